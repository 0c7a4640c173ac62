// The gateway's test fixtures (spec micro-toolkit.md §0.3): fx-greeter, fx-echo, fx-rest
// and fx-evt, gm5/gm6 commands of their own (gm4 has none). Each prints a ready line, serves
// until SIGTERM/SIGINT, then deregisters and exits 0. See ../../../README.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	micro "go-micro.dev/v6"
	"go-micro.dev/v6/broker"
	merrors "go-micro.dev/v6/errors"
	"go-micro.dev/v6/metadata"
	"go-micro.dev/v6/registry"
	"go-micro.dev/v6/server"

	"micro.test/interop/gmcli"
)

// ---------------------------------------------------------------------------
// go.api messages (go-micro v1's api/proto/api.proto; v5 has no such package).
// Hand-written with protobuf struct tags: go-micro's proto codec (golang/protobuf's
// proto.Marshal) encodes such legacy structs from the tags, its JSON codec uses the
// json tags, so a handler taking them works with application/protobuf and JSON alike.

// Pair is go.api.Pair.
type Pair struct {
	Key    string   `protobuf:"bytes,1,opt,name=key,proto3" json:"key,omitempty"`
	Values []string `protobuf:"bytes,2,rep,name=values,proto3" json:"values,omitempty"`
}

func (m *Pair) Reset()         { *m = Pair{} }
func (m *Pair) String() string { return fmt.Sprintf("%+v", *m) }
func (*Pair) ProtoMessage()    {}

// APIRequest is go.api.Request.
type APIRequest struct {
	Method string           `protobuf:"bytes,1,opt,name=method,proto3" json:"method,omitempty"`
	Path   string           `protobuf:"bytes,2,opt,name=path,proto3" json:"path,omitempty"`
	Header map[string]*Pair `protobuf:"bytes,3,rep,name=header,proto3" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3" json:"header,omitempty"`
	Get    map[string]*Pair `protobuf:"bytes,4,rep,name=get,proto3" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3" json:"get,omitempty"`
	Post   map[string]*Pair `protobuf:"bytes,5,rep,name=post,proto3" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3" json:"post,omitempty"`
	Body   string           `protobuf:"bytes,6,opt,name=body,proto3" json:"body,omitempty"`
	Url    string           `protobuf:"bytes,7,opt,name=url,proto3" json:"url,omitempty"`
}

func (m *APIRequest) Reset()         { *m = APIRequest{} }
func (m *APIRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*APIRequest) ProtoMessage()    {}

// APIResponse is go.api.Response.
type APIResponse struct {
	StatusCode int32            `protobuf:"varint,1,opt,name=statusCode,proto3" json:"statusCode,omitempty"`
	Header     map[string]*Pair `protobuf:"bytes,2,rep,name=header,proto3" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3" json:"header,omitempty"`
	Body       string           `protobuf:"bytes,3,opt,name=body,proto3" json:"body,omitempty"`
}

func (m *APIResponse) Reset()         { *m = APIResponse{} }
func (m *APIResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*APIResponse) ProtoMessage()    {}

// APIEvent is go.api.Event.
type APIEvent struct {
	Name      string           `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Id        string           `protobuf:"bytes,2,opt,name=id,proto3" json:"id,omitempty"`
	Timestamp int64            `protobuf:"varint,3,opt,name=timestamp,proto3" json:"timestamp,omitempty"`
	Header    map[string]*Pair `protobuf:"bytes,4,rep,name=header,proto3" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3" json:"header,omitempty"`
	Data      string           `protobuf:"bytes,5,opt,name=data,proto3" json:"data,omitempty"`
}

func (m *APIEvent) Reset()         { *m = APIEvent{} }
func (m *APIEvent) String() string { return fmt.Sprintf("%+v", *m) }
func (*APIEvent) ProtoMessage()    {}

// ---------------------------------------------------------------------------
// FX-GREETER: Say.Hello.

// SayRequest is FX-GREETER's request.
type SayRequest struct {
	Name string `json:"name"`
}

// SayReply is FX-GREETER's reply; Service and Metadata only for the names who and md.
type SayReply struct {
	Msg      string            `json:"msg"`
	Service  string            `json:"service,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Say is FX-GREETER's handler.
type Say struct {
	name string
	slow time.Duration
}

// Hello greets; the names bad, plain, slow, who and md behave as the README says.
func (s *Say) Hello(ctx context.Context, req *SayRequest, rsp *SayReply) error {
	switch req.Name {
	case "bad":
		return merrors.New(s.name, "bad name", 400)
	case "plain":
		return fmt.Errorf("boom")
	case "slow":
		gmcli.Emit(map[string]string{"event": "slow", "service": s.name})
		select {
		case <-time.After(s.slow):
		case <-ctx.Done():
		}
	case "who":
		rsp.Service = s.name
	case "md":
		rsp.Metadata = map[string]string{}
		if md, ok := metadata.FromContext(ctx); ok {
			for k, v := range md {
				rsp.Metadata[k] = v
			}
		}
	}
	rsp.Msg = "Hello " + req.Name
	return nil
}

// ---------------------------------------------------------------------------
// FX-ECHO-API: Echo.Call.

// Echo is FX-ECHO-API's handler.
type Echo struct{}

// Call answers 201, header X-Fx: 1, body = the JSON of the request it got.
func (e *Echo) Call(ctx context.Context, req *APIRequest, rsp *APIResponse) error {
	b, err := json.Marshal(req)
	if err != nil {
		return merrors.InternalServerError("echo", "%v", err)
	}
	rsp.StatusCode = 201
	rsp.Header = map[string]*Pair{"X-Fx": {Key: "X-Fx", Values: []string{"1"}}}
	rsp.Body = string(b)
	return nil
}

// ---------------------------------------------------------------------------
// Commands.

const fixtureUsage = `
fixtures (spec §0.3; each prints a ready line and serves until SIGTERM/SIGINT):
  fx-greeter --name N [--version V] [--slow-ms N] [--address H:P]    Say.Hello
  fx-echo    --name N [--version V] [--address H:P]                  Echo.Call (go.api Request/Response)
  fx-rest    --name N [--version V] [--address H:P]                  HTTP "<METHOD> <path>", registered as N
  fx-evt     --topic T [--queue Q] [--name N]                        prints every go.api Event on T
`

func (backend) Commands() string { return fixtureUsage }

func (backend) RunExtra(cmd string, args []string) (bool, error) {
	switch cmd {
	case "fx-greeter", "fx-echo", "fx-rest", "fx-evt":
	default:
		return false, nil
	}
	var name, version, address, topic, queue string
	var slowMs int
	fs := gmcli.NewFlagSet(cmd)
	fs.StringVar(&name, "name", "", "service name")
	fs.StringVar(&version, "version", "", "service version (default go-micro's 'latest')")
	fs.StringVar(&address, "address", "127.0.0.1:0", "listen address")
	if cmd == "fx-greeter" {
		fs.IntVar(&slowMs, "slow-ms", 30000, `how long Say.Hello sleeps for the name "slow"`)
	}
	if cmd == "fx-evt" {
		fs.StringVar(&topic, "topic", "", "topic to subscribe to")
		fs.StringVar(&queue, "queue", "", "queue group")
	}
	if err := gmcli.Parse(fs, args); err != nil {
		return true, err
	}
	switch cmd {
	case "fx-evt":
		if topic == "" {
			return true, gmcli.UsageError("fx-evt: --topic is required")
		}
		if name == "" {
			name = "fx.evt"
		}
		return true, serveEvents(name, topic, queue, address)
	case "fx-rest":
		if name == "" {
			return true, gmcli.UsageError("fx-rest: --name is required")
		}
		return true, serveRest(name, version, address)
	}
	if name == "" {
		return true, gmcli.UsageError("%s: --name is required", cmd)
	}
	var handler interface{} = &Echo{}
	if cmd == "fx-greeter" {
		handler = &Say{name: name, slow: time.Duration(slowMs) * time.Millisecond}
	}
	return true, serveHandler(name, version, address, handler, nil)
}

// serveHandler runs a go-micro service with handler (and an optional subscriber setup).
func serveHandler(name, version, address string, handler interface{}, subscribe func(server.Server) error) error {
	b := broker.NewHttpBroker(broker.Addrs("127.0.0.1:0"))
	opts := []micro.Option{
		micro.Address(address),
		micro.Broker(b),
		micro.HandleSignal(false),
		micro.Registry(registry.DefaultRegistry),
	}
	if version != "" {
		opts = append(opts, micro.Version(version))
	}
	svc := micro.NewService(name, opts...)
	srv := svc.Server()
	if handler != nil {
		if err := micro.RegisterHandler(srv, handler); err != nil {
			return err
		}
	}
	if subscribe != nil {
		if err := subscribe(srv); err != nil {
			return err
		}
	}
	if err := svc.Start(); err != nil {
		return err
	}
	if r, ok := srv.(interface{ Register() error }); ok {
		if err := r.Register(); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("registration failed: %w", err)
		}
	}
	gmcli.Emit(gmcli.Ready{
		Event:   "ready",
		Id:      srv.Options().Name + "-" + srv.Options().Id,
		Name:    srv.Options().Name,
		Version: srv.Options().Version,
		Address: srv.Options().Advertise,
		Broker:  b.Address(),
	})
	sig := gmcli.WaitForSignal()
	gmcli.Logf("received %v, stopping", sig)
	return svc.Stop()
}

// EventLine is what fx-evt prints per event: the topic, the message's content type and
// the decoded go.api.Event.
type EventLine struct {
	Event       string    `json:"event"`
	Topic       string    `json:"topic"`
	ContentType string    `json:"content_type"`
	Data        *APIEvent `json:"data"`
}

func serveEvents(name, topic, queue, address string) error {
	return serveHandler(name, "", address, nil, func(srv server.Server) error {
		var sopts []server.SubscriberOption
		if queue != "" {
			sopts = append(sopts, server.SubscriberQueue(queue))
		}
		h := func(ctx context.Context, ev *APIEvent) error {
			ct := ""
			if md, ok := metadata.FromContext(ctx); ok {
				ct, _ = md.Get("Content-Type")
			}
			gmcli.Emit(EventLine{Event: "api.event", Topic: topic, ContentType: ct, Data: ev})
			return nil
		}
		return micro.RegisterSubscriber(topic, srv, h, sopts...)
	})
}

// serveRest: an HTTP server answering "<METHOD> <path>" (path with its query), registered
// as a service whose one node is the HTTP server's address.
func serveRest(name, version, address string) error {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
	})
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(ln) }()
	if version == "" {
		version = "latest"
	}
	addr := ln.Addr().String()
	id := name + "-" + strings.ReplaceAll(addr, ":", "-")
	svc := &registry.Service{
		Name:    name,
		Version: version,
		Nodes:   []*registry.Node{{Id: id, Address: addr, Metadata: map[string]string{"protocol": "http"}}},
	}
	if err := registry.DefaultRegistry.Register(svc); err != nil {
		_ = hs.Close()
		return fmt.Errorf("registration failed: %w", err)
	}
	gmcli.Emit(gmcli.Ready{Event: "ready", Id: id, Name: name, Version: version, Address: addr})
	sig := gmcli.WaitForSignal()
	gmcli.Logf("received %v, stopping", sig)
	if err := registry.DefaultRegistry.Deregister(svc); err != nil {
		gmcli.Logf("deregister: %v", err)
	}
	return hs.Close()
}
