# Shared build rules for CIR's DPF plugins (included by each plugin's Makefile).
#
# The including Makefile sets REPO (the repository root), NAME and FILES_DSP, then includes
# this file. Plugins build against the patched DPF copy that the root `make plugins` makes in
# build/dpf (plugin_bridge/native/patch-dpf.sh); bundles go to build/plugins/, objects to
# build/obj/$(NAME)/. Formats: VST3, CLAP and LV2 (headless: no UI files, no OpenGL/X11).

DPF_PATH       ?= $(REPO)/build/dpf
DPF_TARGET_DIR ?= $(REPO)/build/plugins
DPF_BUILD_DIR  ?= $(REPO)/build/obj/$(NAME)

ifeq ($(wildcard $(DPF_PATH)/Makefile.plugins.mk),)
$(error no patched DPF copy at $(DPF_PATH): run `make plugins` from the repository root)
endif

all: cir-plugin-all

include $(DPF_PATH)/Makefile.plugins.mk

LV2_BUNDLE = $(TARGET_DIR)/$(NAME).lv2

# The LV2 bundle needs its .ttl files, generated from the built library by DPF's tool.
$(LV2_BUNDLE)/manifest.ttl: $(lv2_dsp)
	cd $(LV2_BUNDLE) && $(DPF_PATH)/utils/lv2_ttl_generator ./$(notdir $(lv2_dsp))

cir-plugin-all: vst3 clap lv2_dsp $(LV2_BUNDLE)/manifest.ttl

.PHONY: all cir-plugin-all
