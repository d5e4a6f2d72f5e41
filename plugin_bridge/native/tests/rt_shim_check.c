/* Positive control for rt_shim.so: a "host" that registers a process callback the way DPF's
 * JACK standalone does (a jack_set_process_callback found with dlsym) and calls it 10 times
 * from its own thread; each call allocates, frees and locks once. Under the shim the report
 * must count exactly that, and nothing done outside the callback.
 * Build: cc -O0 -rdynamic -o rt_shim_check rt_shim_check.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*ProcessCallback)(uint32_t nframes, void* arg);

static ProcessCallback registered;
static void* registered_arg;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

int jack_set_process_callback(void* client, ProcessCallback cb, void* arg)
{
    (void)client;
    registered = cb;
    registered_arg = arg;
    return 0;
}

static int callback(uint32_t nframes, void* arg)
{
    (void)arg;
    void* volatile block = malloc(nframes);
    free(block);
    pthread_mutex_lock(&mutex);
    pthread_mutex_unlock(&mutex);
    return 0;
}

static void* audio_thread(void* unused)
{
    (void)unused;
    for (int i = 0; i < 10; ++i)
        registered(64, registered_arg);
    return NULL;
}

int main(void)
{
    int (*set)(void*, ProcessCallback, void*) =
        (int (*)(void*, ProcessCallback, void*))dlsym(RTLD_DEFAULT, "jack_set_process_callback");
    set(NULL, callback, NULL);
    void* volatile outside = malloc(100);  /* not in the callback: not counted */
    free(outside);
    pthread_t thread;
    pthread_create(&thread, NULL, audio_thread, NULL);
    pthread_join(thread, NULL);
    usleep(400000);  /* the shim's reporter writes every 100 ms */
    return 0;
}
