// gobench: the go-micro side of the benchmarks, built against go-micro.dev/v5 v5.30.0.
//
//	gobench serve  [-addr 127.0.0.1:0] [-name go.greeter] [-registry memory|mdns]
//	gobench load   -addr H:P [-c 64] [-d 3s] [-warmup 1s]   closed-loop unary Greeter.Hello
//	gobench stream -addr H:P [-d 3s] [-warmup 1s]           one bidi stream, ping-pong
//	gobench pubsub [-window 64] [-d 3s] [-warmup 1s] [-drain 3s]  publish -> subscriber, http broker
//	gobench mdns-serve [-services 200] [-nodes 3]           registers them with go-micro's mDNS registry
//
// serve prints {"event":"ready","address":...}; load, stream and pubsub print one JSON
// result line. Calls always name the node with client.WithAddress, so no registry is in the
// measurement. pubsub is one process: a memory registry, go-micro's http broker, a
// subscriber (micro.RegisterSubscriber) and a publisher (client.Publish), on loopback.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/broker"
	"go-micro.dev/v5/client"
	"go-micro.dev/v5/logger"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/server"
)

// HelloRequest is Greeter.Hello's request.
type HelloRequest struct {
	Name string `json:"name"`
}

// Reply is Greeter.Hello's reply.
type Reply struct {
	Message string `json:"message"`
}

// Greeter is the same greeter the Rust side serves.
type Greeter struct{}

// Hello answers "Hello <name>".
func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *Reply) error {
	rsp.Message = "Hello " + req.Name
	return nil
}

// Stream answers each {"name":x} with {"message":"Hello x"} until the client's EOS.
func (g *Greeter) Stream(ctx context.Context, stream server.Stream) error {
	for {
		req := new(HelloRequest)
		if err := stream.Recv(req); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.Send(&Reply{Message: "Hello " + req.Name}); err != nil {
			return err
		}
	}
}

func emit(v interface{}) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(os.Stdout, string(b))
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "gobench: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	logger.DefaultLogger = logger.NewLogger(logger.WithOutput(os.Stderr), logger.WithLevel(logger.WarnLevel))
	if len(os.Args) < 2 {
		die("usage: gobench serve|load|stream [flags]")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "load":
		load(os.Args[2:])
	case "stream":
		streamLoad(os.Args[2:])
	case "pubsub":
		pubsub(os.Args[2:])
	case "mdns-serve":
		mdnsServe(os.Args[2:])
	default:
		die("unknown command %q", os.Args[1])
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	name := fs.String("name", "go.greeter", "service name")
	reg := fs.String("registry", "memory", "memory or mdns")
	_ = fs.Parse(args)
	opts := []micro.Option{
		micro.Address(*addr),
		micro.Broker(broker.NewHttpBroker(broker.Addrs("127.0.0.1:0"))),
		micro.HandleSignal(false),
	}
	switch *reg {
	case "memory":
		opts = append(opts, micro.Registry(registry.NewMemoryRegistry()))
	case "mdns":
	default:
		die("unknown registry %q", *reg)
	}
	svc := micro.New(*name, opts...)
	if err := micro.RegisterHandler(svc.Server(), &Greeter{}); err != nil {
		die("register handler: %v", err)
	}
	if err := svc.Start(); err != nil {
		die("start: %v", err)
	}
	emit(map[string]string{"event": "ready", "address": svc.Server().Options().Address})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = svc.Stop()
}

// mdnsServe registers services bench.svc<s> of nodes bench.svc<s>-<n> (the names, addresses
// and metadata `loadgen mdns-serve` registers) with go-micro's mDNS registry, which starts an
// mDNS server per node, prints ready and answers until SIGTERM. `loadgen mdns-ask` times its
// answers. Run inside scripts/netns.sh.
func mdnsServe(args []string) {
	fs := flag.NewFlagSet("mdns-serve", flag.ExitOnError)
	services := fs.Int("services", 200, "services")
	nodes := fs.Int("nodes", 3, "nodes per service")
	_ = fs.Parse(args)
	r := registry.NewMDNSRegistry()
	for s := 0; s < *services; s++ {
		for n := 0; n < *nodes; n++ {
			eps := make([]*registry.Endpoint, 4)
			for e := range eps {
				eps[e] = &registry.Endpoint{Name: fmt.Sprintf("Handler.Method%d", e)}
			}
			svc := &registry.Service{
				Name:      fmt.Sprintf("bench.svc%d", s),
				Version:   "latest",
				Endpoints: eps,
				Nodes: []*registry.Node{{
					Id:       fmt.Sprintf("bench.svc%d-%d", s, n),
					Address:  fmt.Sprintf("127.0.0.1:%d", 20000+s**nodes+n),
					Metadata: map[string]string{"protocol": "mucp", "transport": "http", "broker": "http", "server": "mucp"},
				}},
			}
			if err := r.Register(svc); err != nil {
				die("register %s: %v", svc.Nodes[0].Id, err)
			}
		}
	}
	emit(map[string]interface{}{"event": "ready", "nodes": *services * *nodes})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// Result is one workload's figures; latencies in microseconds.
type Result struct {
	Requests int64   `json:"requests"` // calls started in the window (errors included)
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	P999     float64 `json:"p999_us"`
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i].Nanoseconds()) / 1000
}

func summarize(lat [][]time.Duration, errs int64, secs float64) Result {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := int64(len(all))
	return Result{Requests: n, Errors: errs, Seconds: secs, Rate: float64(n) / secs,
		P50: pct(all, 0.50), P99: pct(all, 0.99), P999: pct(all, 0.999)}
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	conc := fs.Int("c", 64, "concurrency (calls in flight)")
	dur := fs.Duration("d", 3*time.Second, "measured duration")
	warm := fs.Duration("warmup", time.Second, "warm-up duration")
	size := fs.Int("size", 0, "pad the name so the JSON request body is this many bytes")
	_ = fs.Parse(args)
	if *addr == "" {
		die("load: -addr is required")
	}
	name := "bench"
	if pad := *size - len(`{"name":"bench"}`); pad > 0 {
		name += strings.Repeat("x", pad)
	}
	want := "Hello " + name
	c := client.NewClient(client.PoolSize(*conc+4), client.Retries(0), client.RequestTimeout(10*time.Second))
	var recording atomic.Bool
	var stop atomic.Bool
	var errs atomic.Int64
	lat := make([][]time.Duration, *conc)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			for !stop.Load() {
				req := c.NewRequest("go.greeter", "Greeter.Hello", &HelloRequest{Name: name})
				rsp := new(Reply)
				rec := recording.Load()
				t0 := time.Now()
				err := c.Call(context.Background(), req, rsp, client.WithAddress(*addr))
				d := time.Since(t0)
				if os.Getenv("GOBENCH_DEBUG") != "" && d > 100*time.Millisecond {
					fmt.Fprintf(os.Stderr, "slow call %v err=%v\n", d, err)
				}
				if !rec {
					continue
				}
				if err != nil || rsp.Message != want {
					errs.Add(1)
				}
				local = append(local, d)
			}
			lat[w] = local
		}(w)
	}
	time.Sleep(*warm)
	recording.Store(true)
	t0 := time.Now()
	time.Sleep(*dur)
	recording.Store(false)
	stop.Store(true)
	wg.Wait()
	secs := time.Since(t0).Seconds()
	emit(summarize(lat, errs.Load(), secs))
}

// streamWindow keeps n messages in flight on one stream: a sender goroutine sends while
// fewer than n replies are outstanding, this one receives and times each reply from its
// message's send (the stream keeps order).
func streamWindow(st client.Stream, n int, warm, dur time.Duration) {
	slots := make(chan struct{}, n)
	sent := make(chan time.Time, n+1)
	var stop atomic.Bool
	go func() {
		for !stop.Load() {
			slots <- struct{}{}
			if stop.Load() {
				return
			}
			sent <- time.Now()
			if err := st.Send(&HelloRequest{Name: "bench"}); err != nil {
				return
			}
		}
	}()
	var lat []time.Duration
	var errs int64
	start := time.Now()
	var t0 time.Time
	recording := false
	for {
		now := time.Now()
		if !recording && now.Sub(start) >= warm {
			recording, t0 = true, now
		}
		if recording && now.Sub(t0) >= dur {
			break
		}
		rsp := new(Reply)
		if err := st.Recv(rsp); err != nil {
			die("stream recv: %v", err)
		}
		t := <-sent
		<-slots
		if recording {
			if rsp.Message != "Hello bench" {
				errs++
			}
			lat = append(lat, time.Since(t))
		}
	}
	secs := time.Since(t0).Seconds()
	stop.Store(true)
	// The replies still in flight are not waited for: the result is printed, and the
	// process ends with the stream.
	emit(summarize([][]time.Duration{lat}, errs, secs))
	_ = st.Close()
}

func streamLoad(args []string) {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	dur := fs.Duration("d", 3*time.Second, "measured duration")
	warm := fs.Duration("warmup", time.Second, "warm-up duration")
	window := fs.Int("window", 1, "messages in flight on the stream")
	_ = fs.Parse(args)
	if *addr == "" {
		die("stream: -addr is required")
	}
	c := client.NewClient()
	ctx := context.Background()
	req := c.NewRequest("go.greeter", "Greeter.Stream", &HelloRequest{}, client.StreamingRequest())
	st, err := c.Stream(ctx, req, client.WithAddress(*addr))
	if err != nil {
		die("stream: %v", err)
	}
	if *window > 1 {
		streamWindow(st, *window, *warm, *dur)
		return
	}
	var lat []time.Duration
	var errs int64
	start := time.Now()
	var t0 time.Time
	recording := false
	for {
		now := time.Now()
		if !recording && now.Sub(start) >= *warm {
			recording, t0 = true, now
		}
		if recording && now.Sub(t0) >= *dur {
			break
		}
		if err := st.Send(&HelloRequest{Name: "bench"}); err != nil {
			die("stream send: %v", err)
		}
		rsp := new(Reply)
		if err := st.Recv(rsp); err != nil {
			die("stream recv: %v", err)
		}
		if recording {
			if rsp.Message != "Hello bench" {
				errs++
			}
			lat = append(lat, time.Since(now))
		}
	}
	secs := time.Since(t0).Seconds()
	_ = st.Close()
	emit(summarize([][]time.Duration{lat}, errs, secs))
}

// Tick is the publish workload's message: a sequence number and the publish time in ns
// since the process's origin (publisher and subscriber share the process).
type Tick struct {
	Seq uint64 `json:"seq"`
	T   int64  `json:"t"`
}

// PubsubResult is Result over deliveries in the window (errors = lost) plus the counts.
type PubsubResult struct {
	Result
	Published     int64 `json:"published"`      // whole run, warm-up included
	Received      int64 `json:"received"`       // whole run, after the drain
	Lost          int64 `json:"lost"`           // published - received
	PublishErrors int64 `json:"publish_errors"` // Publish calls that returned an error
	Window        int64 `json:"window"`         // bound on published - received
}

// pubsub publishes whenever fewer than -window messages are outstanding (published minus
// received) through warm-up and the window, then waits up to -drain for the rest.
func pubsub(args []string) {
	fs := flag.NewFlagSet("pubsub", flag.ExitOnError)
	window := fs.Int64("window", 64, "bound on published - received")
	dur := fs.Duration("d", 3*time.Second, "measured duration")
	warm := fs.Duration("warmup", time.Second, "warm-up duration")
	drain := fs.Duration("drain", 3*time.Second, "longest wait for outstanding messages")
	_ = fs.Parse(args)
	const topic = "bench.ticks"
	origin := time.Now()
	svc := micro.New("go.bench.pubsub",
		micro.Address("127.0.0.1:0"),
		micro.Broker(broker.NewHttpBroker(broker.Addrs("127.0.0.1:0"))),
		micro.Registry(registry.NewMemoryRegistry()),
		micro.HandleSignal(false),
	)
	var received atomic.Int64
	var recording atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	freed := make(chan struct{}, 1)
	err := micro.RegisterSubscriber(topic, svc.Server(), func(ctx context.Context, t *Tick) error {
		if recording.Load() {
			d := time.Since(origin) - time.Duration(t.T)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
		received.Add(1)
		select {
		case freed <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		die("register subscriber: %v", err)
	}
	if err := svc.Start(); err != nil {
		die("start: %v", err)
	}
	c := svc.Client()
	ctx := context.Background()
	var published, pubErrs, before, after int64
	start := time.Now()
	var t0, end time.Time
	wait := func() {
		select {
		case <-freed:
		case <-time.After(10 * time.Millisecond): // bounded: a lost message must not stall the loop
		}
	}
	for {
		now := time.Now()
		if t0.IsZero() && now.Sub(start) >= *warm {
			t0, before = now, received.Load()
			recording.Store(true)
		}
		if !t0.IsZero() && now.Sub(t0) >= *dur {
			recording.Store(false)
			end, after = now, received.Load()
			break
		}
		if published-received.Load() >= *window {
			wait()
			continue
		}
		tick := &Tick{Seq: uint64(published), T: int64(time.Since(origin))}
		published++
		if err := c.Publish(ctx, c.NewMessage(topic, tick)); err != nil {
			pubErrs++
		}
	}
	deadline := time.Now().Add(*drain)
	for received.Load() < published && time.Now().Before(deadline) {
		wait()
	}
	got := received.Load()
	secs := end.Sub(t0).Seconds()
	mu.Lock()
	res := summarize([][]time.Duration{lat}, 0, secs)
	mu.Unlock()
	res.Requests = after - before
	res.Rate = float64(res.Requests) / secs
	res.Errors = published - got
	if res.Errors < 0 {
		res.Errors = 0
	}
	stopped := make(chan struct{})
	go func() { _ = svc.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
	}
	emit(PubsubResult{Result: res, Published: published, Received: got, Lost: published - got,
		PublishErrors: pubErrs, Window: *window})
}
