# Shared build rules for CIR's DPF plugins (included by each plugin's Makefile).
#
# The including Makefile sets REPO (the repository root), NAME and FILES_DSP, then includes
# this file. Plugins build against the patched DPF copy that the root `make plugins` makes in
# build/dpf (plugin_bridge/native/patch-dpf.sh); bundles go to build/plugins/, objects to
# build/obj/$(NAME)/. Formats: VST3, CLAP and LV2, plus $(EXTRA_TARGETS) (e.g. jack). A plugin
# without FILES_UI builds headless (no X11); one with a window builds LV2 as one binary, so
# that its window can reach the plugin instance.

DPF_PATH       ?= $(REPO)/build/dpf
DPF_TARGET_DIR ?= $(REPO)/build/plugins
DPF_BUILD_DIR  ?= $(REPO)/build/obj/$(NAME)

ifeq ($(wildcard $(DPF_PATH)/Makefile.plugins.mk),)
$(error no patched DPF copy at $(DPF_PATH): run `make plugins` from the repository root)
endif

all: cir-plugin-all

include $(DPF_PATH)/Makefile.plugins.mk

LV2_BUNDLE = $(TARGET_DIR)/$(NAME).lv2
ifeq ($(FILES_UI),)
LV2_TARGET = lv2_dsp
LV2_LIB    = $(lv2_dsp)
else
LV2_TARGET = lv2
LV2_LIB    = $(lv2)
endif

# The LV2 bundle needs its .ttl files, generated from the built library by DPF's tool.
$(LV2_BUNDLE)/manifest.ttl: $(LV2_LIB)
	cd $(LV2_BUNDLE) && $(DPF_PATH)/utils/lv2_ttl_generator ./$(notdir $(LV2_LIB))

cir-plugin-all: vst3 clap $(LV2_TARGET) $(LV2_BUNDLE)/manifest.ttl $(EXTRA_TARGETS)

.PHONY: all cir-plugin-all
