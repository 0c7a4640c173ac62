// prom: a go-micro v5.30.0 greeter wrapped by go-micro's own Prometheus handler wrapper
// (go-micro.dev/v5/wrapper/monitoring/prometheus), its metrics served on /metrics — the
// reference tests/interop/metrics.sh holds ours against.
//
//	prom -name go.metrics -metrics 127.0.0.1:PORT
//
// The flags default to MICRO_SERVER_NAME and MICRO_METRICS_ADDRESS, as our services read them.
//
// Greeter.Hello answers "Hello <name>", and a BadRequest for an empty name. Prints
// {"ready":true} on stdout once registered.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	micro "go-micro.dev/v5"
	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/server"
	"go-micro.dev/v5/wrapper/monitoring/prometheus"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Request is Greeter.Hello's request.
type Request struct {
	Name string `json:"name"`
}

// Response is Greeter.Hello's response.
type Response struct {
	Message string `json:"message"`
}

// Greeter serves Greeter.Hello.
type Greeter struct{ name string }

// Hello greets, or refuses an empty name.
func (g *Greeter) Hello(_ context.Context, req *Request, rsp *Response) error {
	if req.Name == "" {
		return merrors.BadRequest(g.name, "name required")
	}
	rsp.Message = "Hello " + req.Name
	return nil
}

// env is the variable's value, or fallback when it is unset or empty.
func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	name := flag.String("name", env("MICRO_SERVER_NAME", "go.metrics"), "service name")
	metrics := flag.String("metrics", env("MICRO_METRICS_ADDRESS", "127.0.0.1:0"), "where /metrics is served")
	flag.Parse()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	go func() { log.Fatal(http.ListenAndServe(*metrics, mux)) }()

	svc := micro.NewService(
		micro.Name(*name),
		micro.RegisterTTL(30*time.Second),
		micro.WrapHandler(prometheus.NewHandlerWrapper()),
		micro.AfterStart(func() error {
			fmt.Println(`{"ready":true}`)
			return nil
		}),
	)
	if err := micro.RegisterHandler(svc.Server(), &Greeter{name: *name}, server.InternalHandler(false)); err != nil {
		log.Fatal(err)
	}
	if err := svc.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
