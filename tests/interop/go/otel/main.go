// otel: a go-micro v5.30.0 client wrapped by go-micro's own OpenTelemetry client wrapper
// (go-micro.dev/v5/wrapper/trace/opentelemetry), exporting its spans over OTLP/HTTP
// (go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp, which reads
// OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_SERVICE_NAME names the resource) — the start of the
// trace tests/interop/trace.sh follows through Python, Node and Rust.
//
//	otel call SERVICE ENDPOINT JSON     one traced call
//	otel publish TOPIC JSON             one traced publish
//
// Before the traced call or publish it waits (untraced, deadline 60 s) until SERVICE is in
// the registry, or N subscribers of TOPIC are (go-micro's http broker's micro.http.broker
// nodes), so the trace holds the one attempt and the publish reaches every subscriber. Prints {"trace_id":"…","span_id":"…"} of its span, then the answer (or the
// error), after the exporter has flushed; then exits, or with -hold stays up until killed
// (go-micro's http broker delivers in a goroutine after Publish returns).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/client"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/wrapper/trace/opentelemetry"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// seen is a client wrapper inside go-micro's OpenTelemetry one: it keeps the span context of
// the call or publish it passes on, so the test knows which trace and span to look for.
type seen struct {
	client.Client
	span *trace.SpanContext
}

func (s *seen) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	*s.span = trace.SpanContextFromContext(ctx)
	return s.Client.Call(ctx, req, rsp, opts...)
}

func (s *seen) Publish(ctx context.Context, msg client.Message, opts ...client.PublishOption) error {
	*s.span = trace.SpanContextFromContext(ctx)
	return s.Client.Publish(ctx, msg, opts...)
}

// waitFor polls the registry (deadline 60 s) until service has at least n nodes that pass ok.
func waitFor(reg registry.Registry, service string, n int, ok func(*registry.Node) bool) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		found := 0
		if svcs, err := reg.GetService(service); err == nil {
			for _, s := range svcs {
				for _, node := range s.Nodes {
					if ok(node) {
						found++
					}
				}
			}
		}
		if found >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s had %d of %d nodes in the registry after 60 s", service, found, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func main() {
	hold := flag.Bool("hold", false, "stay up after answering (until killed): go-micro's http broker delivers after Publish returns")
	subscribers := flag.Int("subscribers", 1, "subscribers of the topic to wait for (on go-micro's http broker) before publishing")
	flag.Parse()
	args := flag.Args()
	if !(len(args) == 4 && args[0] == "call") && !(len(args) == 3 && args[0] == "publish") {
		fmt.Fprintln(os.Stderr, "usage: otel call SERVICE ENDPOINT JSON | otel [-subscribers N] publish TOPIC JSON")
		os.Exit(2)
	}
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "otlp exporter:", err)
		os.Exit(1)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tp)
	// go-micro's wrapper injects with the global propagator, a no-op until one is set.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	var span trace.SpanContext
	svc := micro.NewService(
		micro.Name(os.Getenv("OTEL_SERVICE_NAME")),
		// The first wrapper is the outermost: go-micro's starts the span, seen records it.
		micro.WrapClient(
			opentelemetry.NewClientWrapper(opentelemetry.WithTraceProvider(tp)),
			func(c client.Client) client.Client { return &seen{Client: c, span: &span} },
		),
	)
	c := svc.Client()
	var callErr error
	var answer json.RawMessage
	switch args[0] {
	case "call":
		if err := waitFor(svc.Options().Registry, args[1], 1, func(*registry.Node) bool { return true }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		req := c.NewRequest(args[1], args[2], json.RawMessage(args[3]), client.WithContentType("application/json"))
		callErr = c.Call(ctx, req, &answer, client.WithRetries(0), client.WithRequestTimeout(30*time.Second))
	case "publish":
		topic := args[1]
		subscribed := func(n *registry.Node) bool { return n.Metadata["topic"] == topic }
		if err := waitFor(svc.Options().Registry, "micro.http.broker", *subscribers, subscribed); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		msg := c.NewMessage(args[1], json.RawMessage(args[2]), client.WithMessageContentType("application/json"))
		callErr = c.Publish(ctx, msg)
	}
	flush, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tp.Shutdown(flush); err != nil {
		fmt.Fprintln(os.Stderr, "otlp flush:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]string{"trace_id": span.TraceID().String(), "span_id": span.SpanID().String()})
	fmt.Println(string(out))
	if callErr != nil {
		fmt.Println("error:", callErr)
		os.Exit(1)
	}
	fmt.Println(string(answer))
	if *hold {
		select {}
	}
}
