/* LD_PRELOAD shim for the real-time test (tests/test_plugin_window.py): counts allocations
 * (malloc, calloc, realloc, memalign family, free) and pthread_mutex_lock/trylock calls made
 * on the thread that runs the JACK process callback, and only while it runs it.
 *
 * The callback is found where the host registers it: DPF's JACK standalone loads libjack with
 * dlopen and looks its functions up with dlsym, so this shim wraps dlsym and, for
 * jack_set_process_callback, hands out a wrapper that registers a trampoline around the real
 * callback. The trampoline marks its thread (an initial-exec TLS flag: no allocation to reach
 * it) for the duration of the callback. Counters are lock-free atomics; a reporter thread
 * writes them as JSON to $RT_SHIM_OUT every 100 ms, with the symbol that made the first
 * counted call of each kind (found with dladdr, off the audio thread).
 *
 * Build: cc -shared -fPIC -O1 -o rt_shim.so rt_shim.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*ProcessCallback)(uint32_t nframes, void* arg);
typedef int (*SetProcessCallback)(void* client, ProcessCallback cb, void* arg);

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static __thread int in_callback __attribute__((tls_model("initial-exec")));

static atomic_ulong calls, frames, allocs, frees, locks;
static atomic_uintptr_t first_alloc, first_free, first_lock;

static ProcessCallback real_callback;
static void* real_arg;
static SetProcessCallback real_set;
static int (*real_lock)(pthread_mutex_t*);
static int (*real_trylock)(pthread_mutex_t*);

static void note(atomic_ulong* counter, atomic_uintptr_t* first, void* caller)
{
    uintptr_t none = 0;
    atomic_fetch_add(counter, 1);
    atomic_compare_exchange_strong(first, &none, (uintptr_t)caller);
}

static int trampoline(uint32_t nframes, void* unused)
{
    (void)unused;
    in_callback = 1;
    const int ret = real_callback(nframes, real_arg);
    in_callback = 0;
    atomic_fetch_add(&calls, 1);
    atomic_fetch_add(&frames, nframes);
    return ret;
}

static int wrapped_set(void* client, ProcessCallback cb, void* arg)
{
    real_callback = cb;
    real_arg = arg;
    return real_set(client, trampoline, NULL);
}

void* dlsym(void* handle, const char* name)
{
    static void* (*real_dlsym)(void*, const char*);
    if (real_dlsym == NULL) {
        real_dlsym = (void* (*)(void*, const char*))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
        if (real_dlsym == NULL)
            real_dlsym = (void* (*)(void*, const char*))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    }
    void* sym = real_dlsym(handle, name);
    if (sym != NULL && strcmp(name, "jack_set_process_callback") == 0) {
        real_set = (SetProcessCallback)sym;
        return (void*)wrapped_set;
    }
    return sym;
}

void* malloc(size_t n)
{
    if (in_callback) note(&allocs, &first_alloc, __builtin_return_address(0));
    return __libc_malloc(n);
}

void* calloc(size_t n, size_t size)
{
    if (in_callback) note(&allocs, &first_alloc, __builtin_return_address(0));
    return __libc_calloc(n, size);
}

void* realloc(void* p, size_t n)
{
    if (in_callback) note(&allocs, &first_alloc, __builtin_return_address(0));
    return __libc_realloc(p, n);
}

void* memalign(size_t align, size_t n)
{
    if (in_callback) note(&allocs, &first_alloc, __builtin_return_address(0));
    return __libc_memalign(align, n);
}

void* aligned_alloc(size_t align, size_t n)
{
    if (in_callback) note(&allocs, &first_alloc, __builtin_return_address(0));
    return __libc_memalign(align, n);
}

int posix_memalign(void** out, size_t align, size_t n)
{
    if (in_callback) note(&allocs, &first_alloc, __builtin_return_address(0));
    *out = __libc_memalign(align, n);
    return *out == NULL ? 12 : 0;  /* ENOMEM */
}

void free(void* p)
{
    if (in_callback && p != NULL) note(&frees, &first_free, __builtin_return_address(0));
    __libc_free(p);
}

int pthread_mutex_lock(pthread_mutex_t* m)
{
    if (in_callback) note(&locks, &first_lock, __builtin_return_address(0));
    return real_lock(m);
}

int pthread_mutex_trylock(pthread_mutex_t* m)
{
    if (in_callback) note(&locks, &first_lock, __builtin_return_address(0));
    return real_trylock(m);
}

static void where(uintptr_t addr, char* out, size_t cap)
{
    Dl_info info;
    if (addr == 0) {
        out[0] = '\0';
    } else if (dladdr((void*)addr, &info) && info.dli_sname != NULL) {
        snprintf(out, cap, "%s+0x%lx", info.dli_sname, (unsigned long)(addr - (uintptr_t)info.dli_saddr));
    } else if (dladdr((void*)addr, &info) && info.dli_fname != NULL) {
        snprintf(out, cap, "%s+0x%lx", info.dli_fname, (unsigned long)(addr - (uintptr_t)info.dli_fbase));
    } else {
        snprintf(out, cap, "0x%lx", (unsigned long)addr);
    }
}

static void* reporter(void* path)
{
    char tmp[4096], a[256], f[256], l[256];
    snprintf(tmp, sizeof(tmp), "%s.tmp", (const char*)path);
    for (;;) {
        where(atomic_load(&first_alloc), a, sizeof(a));
        where(atomic_load(&first_free), f, sizeof(f));
        where(atomic_load(&first_lock), l, sizeof(l));
        FILE* out = fopen(tmp, "w");
        if (out != NULL) {
            fprintf(out, "{\"calls\": %lu, \"frames\": %lu, \"allocs\": %lu, \"frees\": %lu, "
                         "\"locks\": %lu, \"first_alloc\": \"%s\", \"first_free\": \"%s\", "
                         "\"first_lock\": \"%s\"}\n",
                    atomic_load(&calls), atomic_load(&frames), atomic_load(&allocs),
                    atomic_load(&frees), atomic_load(&locks), a, f, l);
            fclose(out);
            rename(tmp, (const char*)path);
        }
        usleep(100000);
    }
    return NULL;
}

__attribute__((constructor)) static void start(void)
{
    real_lock = (int (*)(pthread_mutex_t*))dlvsym(RTLD_NEXT, "pthread_mutex_lock", "GLIBC_2.2.5");
    real_trylock = (int (*)(pthread_mutex_t*))dlvsym(RTLD_NEXT, "pthread_mutex_trylock", "GLIBC_2.2.5");
    if (real_lock == NULL)
        real_lock = (int (*)(pthread_mutex_t*))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    if (real_trylock == NULL)
        real_trylock = (int (*)(pthread_mutex_t*))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    const char* path = getenv("RT_SHIM_OUT");
    if (path != NULL && path[0] != '\0') {
        pthread_t thread;
        pthread_create(&thread, NULL, reporter, (void*)path);
        pthread_detach(thread);
    }
}
