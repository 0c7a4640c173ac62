// gm4: interop harness binary built against go-micro.dev/v4 (v4.11.0).
// The command-line contract lives in ../../../gmcli and ../../../README.md.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	micro "go-micro.dev/v4"
	"go-micro.dev/v4/broker"
	"go-micro.dev/v4/client"
	raw "go-micro.dev/v4/codec/bytes"
	merrors "go-micro.dev/v4/errors"
	"go-micro.dev/v4/metadata"
	"go-micro.dev/v4/registry"
	"go-micro.dev/v4/server"
	"go-micro.dev/v4/transport"

	"micro.test/interop/gmcli"
)

func main() {
	useTLS()
	gmcli.Main("gm4", backend{})
}

// useTLS turns on go-micro's TLS transport when MICRO_TRANSPORT_SECURE=true, as gm5 does:
// `serve` gets transport.Secure(true) (go-micro's self-signed certificate), the client
// commands also a tls.Config that skips verification (go-micro's servers are self-signed).
func useTLS() {
	if os.Getenv("MICRO_TRANSPORT_SECURE") != "true" {
		return
	}
	opts := []transport.Option{transport.Secure(true)}
	if len(os.Args) > 1 && os.Args[1] != "serve" {
		opts = append(opts, transport.TLSConfig(&tls.Config{InsecureSkipVerify: true}))
	}
	secure = transport.NewHTTPTransport(opts...)
	transport.DefaultTransport = secure
}

// secure is the TLS transport when useTLS turned it on.
var secure transport.Transport

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

// ---------------------------------------------------------------------------
// Helpers.

// errNoNats: go-micro v4.11.0 has no in-tree NATS broker (it lives in the
// separate github.com/go-micro/plugins repository, which we do not pull in).
var errNoNats = fmt.Errorf("--broker nats is not supported by gm4: go-micro.dev/v4 v4.11.0 has no in-tree NATS broker")

func newBroker(o gmcli.BrokerOptions) (broker.Broker, error) {
	if o.Kind == "nats" {
		return nil, errNoNats
	}
	return broker.NewBroker(broker.Addrs(o.Address)), nil
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
	b, err := newBroker(o.Broker)
	if err != nil {
		return err
	}
	opts := []micro.Option{
		micro.Address(o.Address),
		micro.Broker(b),
		micro.HandleSignal(false),
		micro.WrapSubscriber(printMessages),
	}
	if o.Version != "" {
		opts = append(opts, micro.Version(o.Version))
	}
	if len(o.Metadata) > 0 {
		opts = append(opts, micro.Metadata(o.Metadata))
	}
	if secure != nil {
		// v4's default server was made at init, with the plain transport.
		opts = append(opts, micro.Transport(secure))
	}
	svc := micro.NewService(append([]micro.Option{micro.Name(o.Name)}, opts...)...)
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

	// v4's Service interface has no Start/Stop: drive the server directly.
	if err := srv.Start(); err != nil {
		return err
	}
	// Start only logs registration failures; make sure we are registered.
	if r, ok := srv.(interface{ Register() error }); ok && srv.Options().Advertise == "" {
		if err := r.Register(); err != nil {
			_ = srv.Stop()
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
	if err := srv.Stop(); err != nil {
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
	b, err := newBroker(o.Broker)
	if err != nil {
		return err
	}
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
	b, err := newBroker(o.Broker)
	if err != nil {
		return err
	}
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
