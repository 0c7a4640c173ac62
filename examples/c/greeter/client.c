/* A C greeter client: calls SERVICE's Greeter.Hello with {"name":NAME} and prints the reply.
 * After SERVICE, a word with '=' is a KEY=VALUE metadata header (go-micro context metadata);
 * any other word names the endpoint (default Greeter.Hello).
 * Usage: greeter-client NAME [SERVICE [ENDPOINT] [KEY=VALUE]...]   (registry: MICRO_REGISTRY, default mdns)
 * Build: cc client.c $(pkg-config --cflags --libs micro) -o greeter-client */
#include <micro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "John";
    const char *service = argc > 2 ? argv[2] : "c.greeter";
    const char *endpoint = "Greeter.Hello";
    const char *url = getenv("MICRO_REGISTRY") ? getenv("MICRO_REGISTRY") : "mdns";
    micro_runtime *rt = NULL; micro_registry *reg = NULL; micro_client *cli = NULL;
    micro_message *rsp = NULL; micro_error *err = NULL;
    micro_call_options *opts = micro_call_options_new();
    for (int i = 3; i < argc && opts; i++) {
        char kv[256];
        snprintf(kv, sizeof kv, "%s", argv[i]);
        char *eq = strchr(kv, '=');
        if (!eq) { endpoint = argv[i]; continue; }
        *eq = '\0';
        if (micro_call_options_set_header(opts, kv, eq + 1) != MICRO_STATUS_OK) {
            fprintf(stderr, "bad header: %s\n", argv[i]);
            micro_call_options_free(opts);
            return 2;
        }
    }
    char body[256];
    int n = snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    micro_bytes req = {(const uint8_t *)body, (size_t)n};
    int rc = 1;
    if (micro_runtime_new(NULL, &rt, &err) == MICRO_STATUS_OK &&
        micro_registry_new(rt, url, &reg, &err) == MICRO_STATUS_OK &&
        micro_client_new(rt, reg, NULL, &cli, &err) == MICRO_STATUS_OK &&
        micro_client_call_sync(cli, service, endpoint, req, opts, &rsp, &err) == MICRO_STATUS_OK) {
        micro_bytes b = micro_message_body(rsp);
        printf("%.*s", (int)b.len, (const char *)b.ptr);
        rc = 0;
    } else {
        /* go-micro's error: id, code, detail, status */
        fprintf(stderr, "{\"ok\":false,\"status\":\"%s\",\"id\":\"%s\",\"code\":%d,\"detail\":\"%s\"}\n",
                micro_status_name(micro_error_status(err)), micro_error_id(err).ptr, (int)micro_error_code(err),
                micro_error_detail(err).ptr);
    }
    micro_error_free(err);
    micro_call_options_free(opts);
    micro_message_free(rsp);
    micro_client_free(cli);
    micro_registry_free(reg);
    if (rt) micro_runtime_shutdown(rt, 2000);
    micro_runtime_free(rt);
    return rc;
}
