/* A C greeter server: serves Greeter.Hello ({"name":"X"} -> {"message":"Hello X"}; for the
 * name "md" the reply also carries {"metadata":{"X-Trace-Id":".."}}, the caller's X-Trace-Id
 * metadata header as received, as the Go interop harness does) and the
 * stream Greeter.Stream (the same greeting per message) as
 * service NAME (default "c.greeter") on the registry named by MICRO_REGISTRY (default mdns).
 * With TOPIC it also subscribes to TOPIC (a go-micro subscriber endpoint, on the broker
 * MICRO_BROKER names, go-micro's http broker by default) and prints each message as a line
 * {"event":"message","topic":"T","body_hex":"..","header":{..}}.
 * Usage: greeter-server [NAME [TOPIC]]; SIGINT/SIGTERM stop it.
 * Build: cc server.c $(pkg-config --cflags --libs micro) -lpthread -o greeter-server */
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

/* Writes {"message":"Hello X"}\n for a body {"name":"X"} into out; its length, or -1. */
static int greeting(micro_bytes body, char *out, size_t size) {
    const char *key = "\"name\":\"";
    const char *p = find(body.ptr, body.len, key);
    if (!p) return -1;
    p += strlen(key);
    const char *end = memchr(p, '"', (size_t)((const char *)body.ptr + body.len - p));
    if (!end) return -1;
    int n = snprintf(out, size, "{\"message\":\"Hello %.*s\"}\n", (int)(end - p), p);
    return (size_t)n < size ? n : (int)size - 1;
}

/* True if s can go into a JSON string as is (no quote, backslash or control byte). */
static int json_plain(micro_str s) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == '"' || c == '\\') return 0;
    }
    return 1;
}

/* Runs on a library dispatch thread; owns req and answers it exactly once. */
static void hello(void *userdata, micro_request *req) {
    (void)userdata;
    char out[512];
    int n = greeting(micro_request_body(req), out, sizeof out);
    if (n < 0) { micro_request_respond_error(req, 400, "want {\"name\":\"...\"}"); return; }
    micro_str trace;
    if (strcmp(out, "{\"message\":\"Hello md\"}\n") == 0 && micro_request_header(req, "X-Trace-Id", &trace) &&
        json_plain(trace)) {
        n = snprintf(out, sizeof out, "{\"message\":\"Hello md\",\"metadata\":{\"X-Trace-Id\":\"%.*s\"}}\n",
                     (int)(trace.len < 256 ? trace.len : 256), trace.ptr);
        if ((size_t)n >= sizeof out) n = (int)sizeof out - 1;
    }
    micro_request_respond(req, (micro_bytes){(const uint8_t *)out, (size_t)n});
}

/* A bidirectional stream: greets each {"name":"X"} message; ends (EOS) after the client's
 * end, or with a 400 on a message without a name. Owns the stream; may block. */
static void hello_stream(void *userdata, micro_server_stream *s) {
    (void)userdata;
    for (;;) {
        micro_message *m = NULL;
        if (micro_server_stream_recv(s, 0, &m, NULL) != MICRO_STATUS_OK) break; /* connection lost */
        if (!m) { micro_server_stream_close(s, NULL); break; }                   /* client's EOS */
        char out[512];
        int n = greeting(micro_message_body(m), out, sizeof out);
        micro_message_free(m);
        if (n < 0) { micro_server_stream_close_error(s, 400, "want {\"name\":\"...\"}", NULL); break; }
        if (micro_server_stream_send(s, (micro_bytes){(const uint8_t *)out, (size_t)n}, NULL) != MICRO_STATUS_OK) break;
    }
    micro_server_stream_free(s);
}

/* Prints a JSON string (quotes, backslashes and control bytes escaped). */
static void print_json_str(micro_str s) {
    putchar('"');
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* A subscriber: runs on a dispatch thread, one message at a time, in delivery order; the
 * event is borrowed for the call. */
static void on_event(void *userdata, const micro_event *ev) {
    (void)userdata;
    printf("{\"event\":\"message\",\"topic\":");
    print_json_str(micro_event_topic(ev));
    printf(",\"body_hex\":\"");
    micro_bytes b = micro_event_body(ev);
    for (size_t i = 0; i < b.len; i++) printf("%02x", b.ptr[i]);
    printf("\",\"header\":{");
    for (size_t i = 0; i < micro_event_header_count(ev); i++) {
        micro_str k, v;
        if (micro_event_header_at(ev, i, &k, &v) != MICRO_STATUS_OK) break;
        if (i) putchar(',');
        print_json_str(k);
        putchar(':');
        print_json_str(v);
    }
    printf("}}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "c.greeter";
    const char *topic = argc > 2 ? argv[2] : NULL;
    if (MICRO_CHECK_ABI() != MICRO_STATUS_OK) { fprintf(stderr, "libmicro does not match micro.h\n"); return 1; }
    sigset_t sigs; sigemptyset(&sigs); sigaddset(&sigs, SIGINT); sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any library thread starts */

    micro_runtime *rt = NULL; micro_service *svc = NULL; micro_error *err = NULL;
    if (micro_runtime_new(NULL, &rt, &err) != MICRO_STATUS_OK ||
        micro_service_new(rt, name, NULL, &svc, &err) != MICRO_STATUS_OK) goto fail;
    micro_server *srv = micro_service_server(svc);
    if (micro_server_handle(srv, "Greeter.Hello", hello, NULL, NULL) != MICRO_STATUS_OK ||
        micro_server_handle_stream(srv, "Greeter.Stream", hello_stream, NULL, NULL) != MICRO_STATUS_OK) goto fail;
    if (topic && micro_service_subscribe(svc, topic, NULL, on_event, NULL, NULL, &err) != MICRO_STATUS_OK) goto fail;
    if (micro_service_start(svc, &err) != MICRO_STATUS_OK) goto fail; /* broker, listen, register, subscribe */
    micro_buf *addr = NULL;
    if (micro_server_address(srv, &addr, &err) != MICRO_STATUS_OK) goto fail;
    printf("{\"event\":\"ready\",\"name\":\"%s\",\"address\":\"%.*s\"}\n", name,
           (int)micro_buf_bytes(addr).len, (const char *)micro_buf_bytes(addr).ptr);
    fflush(stdout);
    micro_buf_free(addr);

    int sig; sigwait(&sigs, &sig);
    micro_service_stop(svc, NULL);  /* deregister, unsubscribe, drain, disconnect the broker */
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
