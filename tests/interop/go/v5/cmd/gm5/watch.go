// Commands of gm5 beyond calling and serving: watch (registry.Watcher events and a
// registry cache's view), status-text (go-micro's error status table) and the Proto
// handler of `serve --proto`.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	merrors "go-micro.dev/v5/errors"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/registry/cache"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"micro.test/interop/gmcli"
)

// Proto is registered by `serve --proto`: its bodies go through go-micro's proto codec
// (for application/protobuf), so a peer's protobuf bytes are decoded and encoded by
// real protobuf code, not passed through as a Frame.
type Proto struct{}

// Echo answers StringValue{value: v} with StringValue{value: "Hello " + v}.
func (p *Proto) Echo(ctx context.Context, req *wrapperspb.StringValue, rsp *wrapperspb.StringValue) error {
	rsp.Value = "Hello " + req.Value
	return nil
}

func (backend) StatusText(o *gmcli.StatusTextOptions) error {
	table := map[string]string{}
	for code := 0; code < 1000; code++ {
		if e, ok := merrors.New("gm", "", int32(code)).(*merrors.Error); ok && e.Status != "" {
			table[strconv.Itoa(code)] = e.Status
		}
	}
	gmcli.Emit(table)
	return nil
}

func (backend) Watch(o *gmcli.WatchOptions) error {
	reg := registry.DefaultRegistry
	w, err := reg.Watch(registry.WatchService(o.Service))
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	// go-micro starts the mDNS listener in the background; prove it hears
	// announcements before saying ready.
	if err := awaitListener(reg, o.Ready); err != nil {
		w.Stop()
		return err
	}
	gmcli.Emit(gmcli.WatchReady{Event: "ready", Service: o.Service})
	if o.CacheEvery > 0 {
		go view(reg, o.Service, o.CacheEvery)
	}
	go func() {
		sig := gmcli.WaitForSignal()
		gmcli.Logf("received %v, stopping the watcher", sig)
		w.Stop()
	}()
	for {
		res, err := w.Next()
		if err == registry.ErrWatcherStopped {
			return nil
		}
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		gmcli.EmitWatch(res.Action, res.Service)
	}
}

// awaitListener registers a throw-away probe service through a second registry of the
// same kind (mDNS unless MICRO_REGISTRY chose another)
// and waits until a watcher of the shared listener reports its announcement.
func awaitListener(reg registry.Registry, limit time.Duration) error {
	name := fmt.Sprintf("gm-watch-probe-%d-%d", os.Getpid(), time.Now().UnixNano())
	pw, err := reg.Watch(registry.WatchService(name))
	if err != nil {
		return fmt.Errorf("watch probe: %w", err)
	}
	defer pw.Stop()
	heard := make(chan struct{})
	go func() {
		for {
			res, err := pw.Next()
			if err != nil {
				return
			}
			if res.Action == "create" {
				close(heard)
				return
			}
		}
	}()
	probeReg := newProbeRegistry()
	svc := &registry.Service{Name: name, Version: "latest",
		Nodes: []*registry.Node{{Id: name + "-node", Address: "127.0.0.1:9"}}}
	if err := probeReg.Register(svc); err != nil {
		return fmt.Errorf("watch probe: register: %w", err)
	}
	defer func() {
		if err := probeReg.Deregister(svc); err != nil {
			gmcli.Logf("watch probe: deregister: %v", err)
		}
	}()
	select {
	case <-heard:
		return nil
	case <-time.After(limit):
		return fmt.Errorf("watch: the mDNS listener heard no announcement within %v", limit)
	}
}

// view polls a go-micro registry cache (the kind the selector uses: watch-fed, 1 min TTL)
// and prints its node ids when they change.
func view(reg registry.Registry, service string, every time.Duration) {
	c := cache.New(reg)
	v := &gmcli.Viewer{}
	for {
		svcs, _ := c.GetService(service)
		var ids []string
		for _, s := range svcs {
			for _, n := range s.Nodes {
				ids = append(ids, n.Id)
			}
		}
		v.Update(ids)
		time.Sleep(every)
	}
}

func newMDNSRegistry() registry.Registry { return registry.NewMDNSRegistry() }

// newProbeRegistry is a second registry of the kind in use (set by useRegistry).
var newProbeRegistry = newMDNSRegistry
