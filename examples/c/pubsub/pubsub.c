/* C pub/sub over go-micro's broker (the http broker and mDNS by default; MICRO_BROKER,
 * MICRO_BROKER_ADDRESS and MICRO_REGISTRY choose others):
 *   pubsub sub TOPIC [QUEUE]           prints a ready line, then one JSON line per message
 *                                      ({"event":"message","topic":…,"body_hex":…,"header":{…}})
 *                                      until SIGINT/SIGTERM
 *   pubsub pub TOPIC BODY [KEY=VALUE]…  publishes BODY (application/json) with the headers, once:
 *                                      on the http broker it first waits (up to 10 s) until the
 *                                      registry lists a subscriber of TOPIC
 * Build: cc pubsub.c $(pkg-config --cflags --libs micro) -lpthread -o pubsub */
#define _POSIX_C_SOURCE 200809L
#include <micro.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void put_json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* Runs on a library dispatch thread, one message at a time, in delivery order. */
static void on_message(void *userdata, const micro_event *ev) {
    (void)userdata;
    micro_str topic = micro_event_topic(ev);
    micro_bytes body = micro_event_body(ev);
    pthread_mutex_lock(&out_lock);
    printf("{\"event\":\"message\",\"topic\":");
    put_json_str(topic.ptr, topic.len);
    printf(",\"body_hex\":\"");
    for (size_t i = 0; i < body.len; i++) printf("%02x", body.ptr[i]);
    printf("\",\"header\":{");
    for (size_t i = 0; i < micro_event_header_count(ev); i++) {
        micro_str k, v;
        if (micro_event_header_at(ev, i, &k, &v) != MICRO_STATUS_OK) break;
        if (i) putchar(',');
        put_json_str(k.ptr, k.len); putchar(':'); put_json_str(v.ptr, v.len);
    }
    printf("}}\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

static void sleep_ms(int ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, NULL); }

static int uses_http_broker(void) {
    const char *b = getenv("MICRO_BROKER");
    return b == NULL || b[0] == 0 || strcmp(b, "http") == 0;
}

/* The http broker finds subscribers in the registry. A publish it answers
 * MICRO_STATUS_NOT_FOUND (no subscriber registered anywhere yet) is kept queued in the
 * broker and goes out with the next publish, as in go-micro, so retrying it would deliver
 * it twice. Instead: wait, bounded, until the registry lists a `micro.http.broker` node
 * subscribed to `topic` (the registry the service uses: MICRO_REGISTRY, mdns by default),
 * then publish once. */
static micro_status wait_for_subscriber(micro_runtime *rt, const char *topic, int timeout_ms, micro_error **err) {
    const char *name = getenv("MICRO_REGISTRY"), *addr = getenv("MICRO_REGISTRY_ADDRESS");
    char url[512], needle[512];
    if (!name || !name[0]) name = "mdns";
    if (addr && addr[0] && !strstr(name, "://")) snprintf(url, sizeof url, "%s://%s", name, addr);
    else snprintf(url, sizeof url, "%s", name);
    snprintf(needle, sizeof needle, "\"topic\":\"%s\"", topic); /* node metadata, compact JSON */
    micro_registry *reg = NULL;
    micro_status st = micro_registry_new(rt, url, &reg, err);
    if (st != MICRO_STATUS_OK) return st;
    st = MICRO_STATUS_NOT_FOUND;
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        micro_buf *json = NULL;
        micro_error *e = NULL;
        if (micro_registry_get_service_json(reg, "micro.http.broker", &json, &e) == MICRO_STATUS_OK) {
            micro_bytes b = micro_buf_bytes(json);
            char *text = malloc(b.len + 1); /* the buffer is not NUL-terminated */
            int found = 0;
            if (text) {
                memcpy(text, b.ptr, b.len);
                text[b.len] = 0;
                found = strstr(text, needle) != NULL;
                free(text);
            }
            micro_buf_free(json);
            if (found) { st = MICRO_STATUS_OK; break; }
        }
        micro_error_free(e);
        sleep_ms(100);
    }
    micro_registry_free(reg);
    if (st != MICRO_STATUS_OK) fprintf(stderr, "pubsub: no subscriber of %s in the registry after %d ms\n", topic, timeout_ms);
    return st;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "sub") && strcmp(argv[1], "pub")) || (!strcmp(argv[1], "pub") && argc < 4)) {
        fprintf(stderr, "usage: pubsub sub TOPIC [QUEUE] | pubsub pub TOPIC BODY [KEY=VALUE]...\n");
        return 2;
    }
    if (MICRO_CHECK_ABI() != MICRO_STATUS_OK) { fprintf(stderr, "libmicro does not match micro.h\n"); return 1; }
    sigset_t sigs; sigemptyset(&sigs); sigaddset(&sigs, SIGINT); sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any library thread starts */

    micro_runtime *rt = NULL; micro_service *svc = NULL; micro_error *err = NULL;
    micro_status st = micro_runtime_new(NULL, &rt, &err);
    if (st == MICRO_STATUS_OK) st = micro_service_new(rt, "c.pubsub", NULL, &svc, &err);
    if (st == MICRO_STATUS_OK && !strcmp(argv[1], "sub")) {
        micro_subscription *sub = NULL;
        st = micro_broker_subscribe(micro_service_broker(svc), argv[2], argc > 3 ? argv[3] : NULL, on_message, NULL, NULL, &sub, &err);
        if (st == MICRO_STATUS_OK) {
            micro_buf *addr = NULL;
            if (micro_broker_address(micro_service_broker(svc), &addr, NULL) == MICRO_STATUS_OK) {
                pthread_mutex_lock(&out_lock);
                printf("{\"event\":\"ready\",\"topic\":\"%s\",\"address\":\"%.*s\"}\n", argv[2],
                       (int)micro_buf_bytes(addr).len, (const char *)micro_buf_bytes(addr).ptr);
                fflush(stdout);
                pthread_mutex_unlock(&out_lock);
                micro_buf_free(addr);
            }
            int sig; sigwait(&sigs, &sig);
            st = micro_subscription_unsubscribe(sub, &err); /* deregisters the subscriber */
            micro_subscription_free(sub);
        }
    } else if (st == MICRO_STATUS_OK) {
        micro_publish_options *po = micro_publish_options_new();
        for (int i = 4; i < argc && st == MICRO_STATUS_OK; i++) {
            char key[128];
            const char *eq = strchr(argv[i], '=');
            if (!eq || (size_t)(eq - argv[i]) >= sizeof key) { fprintf(stderr, "bad header %s\n", argv[i]); st = MICRO_STATUS_INVALID_ARG; break; }
            memcpy(key, argv[i], (size_t)(eq - argv[i])); key[eq - argv[i]] = 0;
            st = micro_publish_options_set_header(po, key, eq + 1);
        }
        micro_bytes body = {(const uint8_t *)argv[3], strlen(argv[3])};
        if (st == MICRO_STATUS_OK && uses_http_broker()) st = wait_for_subscriber(rt, argv[2], 10000, &err);
        if (st == MICRO_STATUS_OK) st = micro_service_publish(svc, argv[2], body, po, &err); /* once: see above */
        micro_publish_options_free(po);
        if (st == MICRO_STATUS_OK) { printf("{\"ok\":true}\n"); fflush(stdout); }
        sleep_ms(1000); /* the http broker delivers after publish returns */
    }
    if (st != MICRO_STATUS_OK) {
        fprintf(stderr, "pubsub: %s: %s\n", micro_status_name(st), micro_error_detail(err).ptr);
    }
    micro_error_free(err);
    micro_service_free(svc);
    if (rt) micro_runtime_shutdown(rt, 5000);
    micro_runtime_free(rt);
    return st == MICRO_STATUS_OK ? 0 : 1;
}
