/* A C greeter server: serves Greeter.Hello ({"name":"X"} -> {"message":"Hello X"}) as
 * service NAME (default "c.greeter") on the registry named by MICRO_REGISTRY (default mdns).
 * Build: cc server.c $(pkg-config --cflags --libs micro) -o greeter-server */
#define _POSIX_C_SOURCE 200809L
#include <micro.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char *find(const uint8_t *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++) if (memcmp(hay + i, needle, k) == 0) return (const char *)hay + i;
    return NULL;
}

/* Runs on a library dispatch thread; owns req and answers it exactly once. */
static void hello(void *userdata, micro_request *req) {
    (void)userdata;
    micro_bytes body = micro_request_body(req);
    const char *key = "\"name\":\"";
    const char *p = find(body.ptr, body.len, key);
    if (!p) { micro_request_respond_error(req, 400, "want {\"name\":\"...\"}"); return; }
    p += strlen(key);
    const char *end = memchr(p, '"', (size_t)((const char *)body.ptr + body.len - p));
    if (!end) { micro_request_respond_error(req, 400, "unterminated name"); return; }
    char out[512];
    int n = snprintf(out, sizeof out, "{\"message\":\"Hello %.*s\"}\n", (int)(end - p), p);
    micro_bytes rsp = {(const uint8_t *)out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1};
    micro_request_respond(req, rsp);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "c.greeter";
    if (MICRO_CHECK_ABI() != MICRO_STATUS_OK) { fprintf(stderr, "libmicro does not match micro.h\n"); return 1; }
    sigset_t sigs; sigemptyset(&sigs); sigaddset(&sigs, SIGINT); sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any library thread starts */

    micro_runtime *rt = NULL; micro_service *svc = NULL; micro_error *err = NULL;
    if (micro_runtime_new(NULL, &rt, &err) != MICRO_STATUS_OK ||
        micro_service_new(rt, name, NULL, &svc, &err) != MICRO_STATUS_OK) goto fail;
    micro_server *srv = micro_service_server(svc);
    if (micro_server_handle(srv, "Greeter.Hello", hello, NULL, NULL) != MICRO_STATUS_OK ||
        micro_server_start(srv, &err) != MICRO_STATUS_OK) goto fail;
    micro_buf *addr = NULL;
    if (micro_server_address(srv, &addr, &err) != MICRO_STATUS_OK) goto fail;
    printf("{\"event\":\"ready\",\"name\":\"%s\",\"address\":\"%.*s\"}\n", name,
           (int)micro_buf_bytes(addr).len, (const char *)micro_buf_bytes(addr).ptr);
    fflush(stdout);
    micro_buf_free(addr);

    int sig; sigwait(&sigs, &sig);
    micro_server_stop(srv, NULL);   /* deregister, drain */
    micro_service_free(svc);
    micro_runtime_shutdown(rt, 5000);
    micro_runtime_free(rt);
    return 0;
fail:
    fprintf(stderr, "greeter: %s: %s\n", micro_status_name(micro_error_status(err)), micro_error_detail(err).ptr);
    micro_error_free(err);
    micro_service_free(svc);
    micro_runtime_free(rt);
    return 1;
}
