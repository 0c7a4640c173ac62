// gm5: interop harness binary built against go-micro.dev/v5 (v5.30.0).
// The command-line contract lives in ../../../gmcli and ../../../README.md.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/broker"
	natsbroker "go-micro.dev/v5/broker/nats"
	"go-micro.dev/v5/client"
	raw "go-micro.dev/v5/codec/bytes"
	debughandler "go-micro.dev/v5/debug/handler"
	debugproto "go-micro.dev/v5/debug/proto"
	"go-micro.dev/v5/debug/stats"
	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/metadata"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/registry/consul"
	"go-micro.dev/v5/registry/etcd"
	natsregistry "go-micro.dev/v5/registry/nats"
	"go-micro.dev/v5/selector"
	"go-micro.dev/v5/server"
	"go-micro.dev/v5/transport"

	"micro.test/interop/gmcli"
)

func main() {
	useRegistry()
	useTLS()
	gmcli.Main("gm5", backend{})
}

// useTLS turns on go-micro's TLS transport when MICRO_TRANSPORT_SECURE=true: `serve` gets
// transport.Secure(true) (go-micro's self-signed certificate), the client commands also a
// tls.Config that skips verification (go-micro's own servers are self-signed) — unless
// mutualTLS makes a tls.Config from the GM_TLS_* files.
func useTLS() {
	if os.Getenv("MICRO_TRANSPORT_SECURE") != "true" {
		return
	}
	serve := len(os.Args) > 1 && os.Args[1] == "serve"
	opts := []transport.Option{transport.Secure(true)}
	cfg, err := mutualTLS(serve)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gm5: tls:", err)
		os.Exit(2)
	}
	switch {
	case cfg != nil:
		opts = append(opts, transport.TLSConfig(cfg))
	case !serve:
		opts = append(opts, transport.TLSConfig(&tls.Config{InsecureSkipVerify: true}))
	}
	transport.DefaultTransport = transport.NewHTTPTransport(opts...)
}

// mutualTLS: go-micro's transport.TLSConfig from files, for mutual TLS. GM_TLS_CERT and
// GM_TLS_KEY are this side's certificate (the server's, or the client's identity);
// GM_TLS_CA is what a client trusts (without it the client skips verification);
// GM_TLS_CLIENT_CA makes `serve` require client certificates signed by it
// (tls.RequireAndVerifyClientCert). nil when none is set.
func mutualTLS(serve bool) (*tls.Config, error) {
	certFile, keyFile := os.Getenv("GM_TLS_CERT"), os.Getenv("GM_TLS_KEY")
	ca, clientCA := os.Getenv("GM_TLS_CA"), os.Getenv("GM_TLS_CLIENT_CA")
	if certFile == "" && ca == "" && clientCA == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	pool := func(file string) (*x509.CertPool, error) {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", file)
		}
		return p, nil
	}
	var err error
	switch {
	case serve && clientCA != "":
		if cfg.ClientCAs, err = pool(clientCA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case !serve && ca != "":
		if cfg.RootCAs, err = pool(ca); err != nil {
			return nil, err
		}
	case !serve:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// useRegistry makes go-micro's own etcd, consul or nats registry the default when
// MICRO_REGISTRY names it ("etcd", "consul", "nats") or is a URL of it
// ("etcd://HOST:PORT[,HOST:PORT]", "consul://HOST:PORT", "nats://HOST:PORT");
// MICRO_REGISTRY_ADDRESS also names the servers. With consul, CONSUL_HTTP_TOKEN is the ACL
// token (go-micro's consul registry reads Consul's own environment). These are the only
// MICRO_* variables the harness reads, so registry interop runs without mDNS.
func useRegistry() {
	r := os.Getenv("MICRO_REGISTRY")
	kind, addrs, _ := strings.Cut(r, "://")
	if a := os.Getenv("MICRO_REGISTRY_ADDRESS"); a != "" {
		addrs = a
	}
	var opts []registry.Option
	if addrs != "" {
		opts = append(opts, registry.Addrs(strings.Split(addrs, ",")...))
	}
	var fresh func() registry.Registry
	switch kind {
	case "etcd":
		fresh = func() registry.Registry { return etcd.NewEtcdRegistry(opts...) }
	case "consul":
		fresh = func() registry.Registry { return consul.NewConsulRegistry(opts...) }
	case "nats":
		fresh = func() registry.Registry { return natsregistry.NewNatsRegistry(opts...) }
	default:
		return
	}
	reg := fresh()
	newProbeRegistry = fresh
	registry.DefaultRegistry = reg
	if err := selector.DefaultSelector.Init(selector.Registry(reg)); err != nil {
		gmcli.Logf("selector: %v", err)
	}
}

type backend struct{}

// ---------------------------------------------------------------------------
// Handler.

type HelloRequest struct {
	Name string `json:"name"`
}

type Reply struct {
	Message string `json:"message"`
	// Metadata is only set by Hello for the name "md": the call's whole go-micro
	// context metadata, so a test sees which headers reached the handler.
	Metadata map[string]string `json:"metadata,omitempty"`
}

type FailRequest struct {
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
}

type SlowRequest struct {
	Ms int `json:"ms"`
}

type WhoamiRequest struct{}

// Greeter is the handler every harness server exposes.
type Greeter struct {
	nodeID string
}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *Reply) error {
	rsp.Message = "Hello " + req.Name
	if req.Name == "md" {
		rsp.Metadata = map[string]string{}
		if md, ok := metadata.FromContext(ctx); ok {
			for k, v := range md {
				rsp.Metadata[k] = v
			}
		}
	}
	return nil
}

func (g *Greeter) Fail(ctx context.Context, req *FailRequest, rsp *Reply) error {
	return merrors.New("go.greeter", req.Detail, req.Code)
}

func (g *Greeter) Slow(ctx context.Context, req *SlowRequest, rsp *Reply) error {
	time.Sleep(time.Duration(req.Ms) * time.Millisecond)
	rsp.Message = "slept"
	return nil
}

func (g *Greeter) Whoami(ctx context.Context, req *WhoamiRequest, rsp *Reply) error {
	rsp.Message = g.nodeID
	return nil
}

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

// Event accepts any JSON value as a subscriber argument (used with
// --sub-arg json); the printed body always comes from the raw message.
type Event struct {
	raw []byte
}

func (e *Event) UnmarshalJSON(b []byte) error {
	e.raw = append([]byte(nil), b...)
	return nil
}

func jsonSubscriber(ctx context.Context, ev *Event) error { return nil }

func frameSubscriber(ctx context.Context, f *raw.Frame) error { return nil }

// printMessages prints every message delivered to a subscriber, from the raw
// body, after go-micro decoded it for the handler.
func printMessages(next server.SubscriberFunc) server.SubscriberFunc {
	return func(ctx context.Context, msg server.Message) error {
		hdr := map[string]string{}
		if md, ok := metadata.FromContext(ctx); ok {
			for k, v := range md {
				hdr[k] = v
			}
		}
		gmcli.EmitMessage(msg.Topic(), hdr, msg.Body())
		return next(ctx, msg)
	}
}

// recordStats counts every handled request (and failed ones) in go-micro's default stats,
// which the Debug handler reports (go-micro's own wrapper for this is internal).
func recordStats(next server.HandlerFunc) server.HandlerFunc {
	return func(ctx context.Context, req server.Request, rsp interface{}) error {
		err := next(ctx, req, rsp)
		_ = stats.DefaultStats.Record(err)
		return err
	}
}

// ---------------------------------------------------------------------------
// Helpers.

// newBroker: NATS or the HTTP broker; with GM_BROKER_SECURE=true the HTTP broker serves its
// subscribers over https with go-micro's self-signed certificate (broker.Secure), which a
// publisher checks with go-micro's default TLS config (the v5/v6 difference: v5 skips the
// check unless MICRO_TLS_SECURE=true, v6 checks unless MICRO_TLS_INSECURE=true).
func newBroker(o gmcli.BrokerOptions) broker.Broker {
	if o.Kind == "nats" {
		return natsbroker.NewNatsBroker(broker.Addrs(o.Address))
	}
	opts := []broker.Option{broker.Addrs(o.Address)}
	if os.Getenv("GM_BROKER_SECURE") == "true" {
		opts = append(opts, broker.Secure(true))
	}
	return broker.NewHttpBroker(opts...)
}

func errObject(err error) gmcli.ErrorObject {
	e := merrors.FromError(err)
	return gmcli.ErrorObject{Id: e.Id, Code: e.Code, Detail: e.Detail, Status: e.Status}
}

func mdContext(ctx context.Context, md map[string]string) context.Context {
	if len(md) == 0 {
		return ctx
	}
	m := metadata.Metadata{}
	for k, v := range md {
		m[k] = v
	}
	return metadata.NewContext(ctx, m)
}

// ---------------------------------------------------------------------------
// Commands.

func (backend) Serve(o *gmcli.ServeOptions) error {
	b := newBroker(o.Broker)
	opts := []micro.Option{
		micro.Address(o.Address),
		micro.Broker(b),
		micro.HandleSignal(false),
		micro.WrapSubscriber(printMessages),
		micro.Registry(registry.DefaultRegistry),
	}
	if o.Version != "" {
		opts = append(opts, micro.Version(o.Version))
	}
	if len(o.Metadata) > 0 {
		opts = append(opts, micro.Metadata(o.Metadata))
	}
	if o.Debug {
		opts = append(opts, micro.WrapHandler(recordStats))
	}
	svc := micro.New(o.Name, opts...)
	srv := svc.Server()

	nodeID := srv.Options().Name + "-" + srv.Options().Id
	if err := micro.RegisterHandler(srv, &Greeter{nodeID: nodeID}); err != nil {
		return err
	}
	if o.Proto {
		if err := micro.RegisterHandler(srv, &Proto{}); err != nil {
			return err
		}
	}
	if o.Debug {
		// As go-micro's own test service does; the handler reads stats.DefaultStats.
		if err := debugproto.RegisterDebugHandler(srv, debughandler.NewHandler(svc.Client())); err != nil {
			return err
		}
	}
	for _, topic := range o.Subscribe {
		var sopts []server.SubscriberOption
		if o.Queue != "" {
			sopts = append(sopts, server.SubscriberQueue(o.Queue))
		}
		var h interface{} = jsonSubscriber
		if o.SubArg == "frame" {
			h = frameSubscriber
		}
		if err := micro.RegisterSubscriber(topic, srv, h, sopts...); err != nil {
			return err
		}
	}

	if err := svc.Start(); err != nil {
		return err
	}
	// Start only logs registration failures; make sure we are registered.
	if r, ok := srv.(interface{ Register() error }); ok && srv.Options().Advertise == "" {
		if err := r.Register(); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("registration failed: %w", err)
		}
	}
	gmcli.Emit(gmcli.Ready{
		Event:   "ready",
		Id:      nodeID,
		Name:    srv.Options().Name,
		Version: srv.Options().Version,
		Address: srv.Options().Advertise,
		Broker:  b.Address(),
	})

	sig := gmcli.WaitForSignal()
	gmcli.Logf("received %v, stopping", sig)
	if err := svc.Stop(); err != nil {
		return err
	}
	return nil
}

func (backend) Call(o *gmcli.CallOptions) error {
	c := client.NewClient()
	var copts []client.CallOption
	if o.Retries >= 0 {
		copts = append(copts, client.WithRetries(o.Retries))
	}
	if o.RetryAlways {
		copts = append(copts, client.WithRetry(client.RetryAlways))
	}
	if o.Timeout > 0 {
		copts = append(copts, client.WithRequestTimeout(o.Timeout))
	}
	if o.Address != "" {
		copts = append(copts, client.WithAddress(o.Address))
	}
	for i := 0; i < o.Count; i++ {
		if i > 0 && o.Interval > 0 {
			time.Sleep(o.Interval)
		}
		ctx := mdContext(context.Background(), o.Metadata)
		req := c.NewRequest(o.Service, o.Endpoint, &raw.Frame{Data: o.Body}, client.WithContentType(o.ContentType))
		rsp := &raw.Frame{}
		stamp := gmcli.StartStamp(o.Stamp)
		if err := c.Call(ctx, req, rsp, copts...); err != nil {
			gmcli.FailStamped(errObject(err), stamp)
			continue
		}
		gmcli.OKBodyStamped(rsp.Data, stamp)
	}
	return nil
}

func (backend) Stream(o *gmcli.StreamOptions) error {
	c := client.NewClient()
	var copts []client.CallOption
	if o.Address != "" {
		copts = append(copts, client.WithAddress(o.Address))
	}
	ctx, cancel := context.WithTimeout(mdContext(context.Background(), o.Metadata), o.Timeout)
	defer cancel()

	req := c.NewRequest(o.Service, o.Endpoint, &raw.Frame{Data: o.Placeholder},
		client.WithContentType(o.ContentType), client.StreamingRequest())
	st, err := c.Stream(ctx, req, copts...)
	if err != nil {
		gmcli.Fail(errObject(err))
		return nil
	}
	for _, name := range o.Names {
		body, _ := json.Marshal(HelloRequest{Name: name})
		if err := st.Send(&raw.Frame{Data: body}); err != nil {
			gmcli.Fail(errObject(err))
			break
		}
		rsp := &raw.Frame{}
		if err := st.Recv(rsp); err != nil {
			gmcli.Fail(errObject(err))
			break
		}
		gmcli.OKBody(rsp.Data)
	}
	if err := st.Close(); err != nil {
		gmcli.Logf("stream close: %v", err)
	}
	return nil
}

func (backend) Get(o *gmcli.GetOptions) error {
	reg := registry.DefaultRegistry
	deadline := time.Now().Add(o.Wait)
	for {
		svcs, err := reg.GetService(o.Service)
		if err != nil && err != registry.ErrNotFound {
			return err
		}
		if len(svcs) > 0 || !time.Now().Before(deadline) {
			if svcs == nil {
				svcs = []*registry.Service{}
			}
			gmcli.Emit(svcs)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (backend) List(o *gmcli.ListOptions) error {
	svcs, err := registry.DefaultRegistry.ListServices()
	if err != nil {
		return err
	}
	names := []string{}
	for _, s := range svcs {
		names = append(names, s.Name)
	}
	gmcli.Emit(names)
	return nil
}

func (backend) Publish(o *gmcli.PublishOptions) error {
	b := newBroker(o.Broker)
	if err := b.Connect(); err != nil {
		return fmt.Errorf("broker connect: %w", err)
	}
	c := client.NewClient(client.Broker(b))
	for i := 0; i < o.Count; i++ {
		if i > 0 && o.Interval > 0 {
			time.Sleep(o.Interval)
		}
		ctx := mdContext(context.Background(), o.Metadata)
		msg := c.NewMessage(o.Topic, &raw.Frame{Data: o.Body}, client.WithMessageContentType(o.ContentType))
		if err := c.Publish(ctx, msg); err != nil {
			gmcli.Fail(errObject(err))
			continue
		}
		gmcli.OK()
	}
	// The HTTP broker delivers asynchronously after Publish returns and offers
	// no completion signal: give it time before tearing down.
	time.Sleep(o.Linger)
	if err := b.Disconnect(); err != nil {
		gmcli.Logf("broker disconnect: %v", err)
	}
	return nil
}

func (backend) Subscribe(o *gmcli.SubscribeOptions) error {
	b := newBroker(o.Broker)
	if err := b.Connect(); err != nil {
		return fmt.Errorf("broker connect: %w", err)
	}
	var sopts []broker.SubscribeOption
	if o.Queue != "" {
		sopts = append(sopts, broker.Queue(o.Queue))
	}
	sub, err := b.Subscribe(o.Topic, func(e broker.Event) error {
		m := e.Message()
		gmcli.EmitMessage(e.Topic(), m.Header, m.Body)
		return nil
	}, sopts...)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	gmcli.Emit(gmcli.Ready{Event: "ready", Address: b.Address(), Topic: o.Topic, Broker: b.String()})

	sig := gmcli.WaitForSignal()
	gmcli.Logf("received %v, unsubscribing", sig)
	if err := sub.Unsubscribe(); err != nil {
		gmcli.Logf("unsubscribe: %v", err)
	}
	if err := b.Disconnect(); err != nil {
		gmcli.Logf("broker disconnect: %v", err)
	}
	return nil
}
