// Package gmcli holds the version-independent part of the gm4/gm5 interop
// harness binaries: command-line parsing, the JSON-lines output contract and
// signal handling. It deliberately depends only on the standard library; each
// go-micro version provides a Backend.
package gmcli

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ---------------------------------------------------------------------------
// Options per sub-command.

// BrokerOptions select the broker used by serve/publish/subscribe.
type BrokerOptions struct {
	Kind    string // "http" (default) or "nats"
	Address string // listen address (http) or server URL (nats); "" = default
}

type ServeOptions struct {
	Name      string
	Address   string
	Version   string
	Subscribe []string
	Queue     string
	SubArg    string // "json" or "frame": Go type of the subscriber argument
	Metadata  map[string]string
	Broker    BrokerOptions
	Proto     bool // also register the Proto handler (protobuf bodies through go-micro's proto codec)
	Debug     bool // also register go-micro's Debug handler (Debug.Health, Debug.Stats …) and count requests (gm5 only)
}

type CallOptions struct {
	Service     string
	Endpoint    string
	Body        []byte
	Count       int
	Interval    time.Duration
	Retries     int // -1 = go-micro default
	RetryAlways bool
	Timeout     time.Duration // 0 = go-micro default (request timeout)
	Address     string
	ContentType string
	Metadata    map[string]string
	Stamp       bool // add at_ms/took_ms to every result line
}

type StreamOptions struct {
	Service     string
	Endpoint    string
	Names       []string
	Address     string
	ContentType string
	Placeholder []byte
	Timeout     time.Duration
	Metadata    map[string]string
}

type GetOptions struct {
	Service string
	Wait    time.Duration
}

type ListOptions struct{}

// WatchOptions: `watch` prints registry.Watcher events for one service and, with
// CacheEvery > 0, the node list of a go-micro registry cache polled that often.
type WatchOptions struct {
	Service    string
	CacheEvery time.Duration
	Ready      time.Duration // how long the listener may take to prove it hears announcements
}

type StatusTextOptions struct{}

type PublishOptions struct {
	Topic       string
	Body        []byte
	Count       int
	Interval    time.Duration
	Linger      time.Duration // wait after the last publish before exiting
	ContentType string
	Metadata    map[string]string
	Broker      BrokerOptions
}

type SubscribeOptions struct {
	Topic  string
	Queue  string
	Broker BrokerOptions
}

// Backend is implemented once per go-micro major version.
type Backend interface {
	Serve(o *ServeOptions) error
	Call(o *CallOptions) error
	Stream(o *StreamOptions) error
	Get(o *GetOptions) error
	List(o *ListOptions) error
	Publish(o *PublishOptions) error
	Subscribe(o *SubscribeOptions) error
	Watch(o *WatchOptions) error
	StatusText(o *StatusTextOptions) error
}

// Extra is implemented by a Backend that has commands of its own (gm5's fixtures):
// Commands lists their usage lines, RunExtra runs one and reports whether cmd was one
// of them. Errors from UsageError are usage errors (exit 1 with the usage text).
type Extra interface {
	Commands() string
	RunExtra(cmd string, args []string) (handled bool, err error)
}

// UsageError is an error that makes Main print the usage text.
func UsageError(format string, a ...interface{}) error { return usagef(format, a...) }

// Parse parses a sub-command's flags like the built-in commands do (no positional arguments).
func Parse(fs *flag.FlagSet, args []string) error { return parse(fs, args) }

// NewFlagSet is a sub-command's flag set, errors to stderr.
func NewFlagSet(name string) *flag.FlagSet { return newFlagSet(name) }

// KV is a repeatable key=value flag filling m.
func KV(m map[string]string) flag.Value { return kvFlag(m) }

// ---------------------------------------------------------------------------
// Output.

var (
	outMu sync.Mutex
	out   io.Writer = os.Stdout
)

// Emit writes v as one JSON line on the real stdout.
func Emit(v interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		Logf("cannot encode output: %v", err)
	}
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}
}

// Logf writes a diagnostic line to stderr.
func Logf(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "gm: "+format+"\n", a...)
}

// ErrorObject is the JSON shape of a go-micro errors.Error; all keys are
// always present.
type ErrorObject struct {
	Id     string `json:"id"`
	Code   int32  `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

// Result is one line of call/stream/publish output.
type Result struct {
	OK      bool         `json:"ok"`
	Body    *string      `json:"body,omitempty"`
	BodyB64 *string      `json:"body_b64,omitempty"`
	Error   *ErrorObject `json:"error,omitempty"`
	AtMs    *int64       `json:"at_ms,omitempty"`   // call --stamp: start, Unix milliseconds
	TookMs  *float64     `json:"took_ms,omitempty"` // call --stamp: duration
}

// Stamp is when a call started; a nil *Stamp adds nothing to a result line.
type Stamp struct{ start time.Time }

// StartStamp starts timing a call when on is true.
func StartStamp(on bool) *Stamp {
	if !on {
		return nil
	}
	return &Stamp{start: time.Now()}
}

func (s *Stamp) apply(r *Result) {
	if s == nil {
		return
	}
	at := s.start.UnixMilli()
	took := float64(time.Since(s.start).Microseconds()) / 1000
	r.AtMs, r.TookMs = &at, &took
}

// OKBodyStamped is OKBody with the call's timing.
func OKBodyStamped(b []byte, s *Stamp) {
	str := string(b)
	e := base64.StdEncoding.EncodeToString(b)
	r := Result{OK: true, Body: &str, BodyB64: &e}
	s.apply(&r)
	Emit(r)
}

// FailStamped is Fail with the call's timing.
func FailStamped(e ErrorObject, s *Stamp) {
	r := Result{OK: false, Error: &e}
	s.apply(&r)
	Emit(r)
}

// WatchReady is printed once the watch listener has heard an announcement.
type WatchReady struct {
	Event   string `json:"event"`
	Service string `json:"service"`
}

// WatchEvent is one registry.Watcher result.
type WatchEvent struct {
	Event   string      `json:"event"`
	Action  string      `json:"action"`
	Service interface{} `json:"service"`
	AtMs    int64       `json:"at_ms"`
}

// EmitWatch prints {"event":"watch","action":…,"service":…,"at_ms":…}.
func EmitWatch(action string, service interface{}) {
	Emit(WatchEvent{Event: "watch", Action: action, Service: service, AtMs: time.Now().UnixMilli()})
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ViewEvent is the node ids a registry cache returns for the watched service.
type ViewEvent struct {
	Event string   `json:"event"`
	Nodes []string `json:"nodes"`
	AtMs  int64    `json:"at_ms"`
}

// Viewer prints a view line whenever the sorted node ids differ from the last ones.
type Viewer struct {
	last []string
	seen bool
}

// Update prints the view if it changed (always the first time).
func (v *Viewer) Update(ids []string) {
	sort.Strings(ids)
	if v.seen && sameStrings(ids, v.last) {
		return
	}
	v.seen, v.last = true, ids
	if ids == nil {
		ids = []string{}
	}
	Emit(ViewEvent{Event: "view", Nodes: ids, AtMs: time.Now().UnixMilli()})
}

// OKBody emits {"ok":true,"body":...,"body_b64":...}.
func OKBody(b []byte) { OKBodyStamped(b, nil) }

// OK emits {"ok":true}.
func OK() { Emit(Result{OK: true}) }

// Fail emits {"ok":false,"error":{...}}.
func Fail(e ErrorObject) { FailStamped(e, nil) }

// Ready is the line printed once a server/subscriber is up.
type Ready struct {
	Event   string `json:"event"`
	Id      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Address string `json:"address"`
	Topic   string `json:"topic,omitempty"`
	Broker  string `json:"broker,omitempty"`
}

// Message is the line printed for every received pub/sub message.
type Message struct {
	Event  string            `json:"event"`
	Topic  string            `json:"topic"`
	Header map[string]string `json:"header"`
	Body   string            `json:"body"`
}

// EmitMessage prints a received message; body is base64 encoded.
func EmitMessage(topic string, header map[string]string, body []byte) {
	if header == nil {
		header = map[string]string{}
	}
	Emit(Message{Event: "message", Topic: topic, Header: header, Body: base64.StdEncoding.EncodeToString(body)})
}

// WaitForSignal blocks until SIGINT or SIGTERM.
func WaitForSignal() os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	s := <-ch
	signal.Stop(ch)
	return s
}

// ---------------------------------------------------------------------------
// Flag helpers.

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type kvFlag map[string]string

func (k kvFlag) String() string {
	keys := make([]string, 0, len(k))
	for key := range k {
		keys = append(keys, key+"="+k[key])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (k kvFlag) Set(v string) error {
	i := strings.IndexByte(v, '=')
	if i <= 0 {
		return fmt.Errorf("expected key=value, got %q", v)
	}
	k[v[:i]] = v[i+1:]
	return nil
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...interface{}) error {
	return usageError{fmt.Sprintf(format, a...)}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func brokerFlags(fs *flag.FlagSet, b *BrokerOptions) {
	fs.StringVar(&b.Kind, "broker", "http", "broker: http or nats")
	fs.StringVar(&b.Address, "broker-address", "", "http: listen address (default 127.0.0.1:0); nats: server URL (default nats://127.0.0.1:4222)")
}

func checkBroker(b *BrokerOptions) error {
	switch b.Kind {
	case "http":
		if b.Address == "" {
			b.Address = "127.0.0.1:0"
		}
	case "nats":
		if b.Address == "" {
			b.Address = "nats://127.0.0.1:4222"
		}
	default:
		return usagef("--broker must be http or nats, got %q", b.Kind)
	}
	return nil
}

func bodyFlags(fs *flag.FlagSet, body, body64 *string, set *bool) {
	fs.Func("body", "request body (sent byte-exact)", func(s string) error { *body = s; *set = true; return nil })
	fs.Func("body-b64", "request body, base64", func(s string) error { *body64 = s; *set = true; return nil })
}

func decodeBody(body, body64 string) ([]byte, error) {
	if body64 != "" {
		b, err := base64.StdEncoding.DecodeString(body64)
		if err != nil {
			return nil, usagef("--body-b64: %v", err)
		}
		return b, nil
	}
	return []byte(body), nil
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// ---------------------------------------------------------------------------
// Entry point.

const usageText = `usage: %[1]s COMMAND [FLAGS]

commands (stdout carries only JSON lines; logs go to stderr):
  serve     --name N [--address H:P] [--version V] [--subscribe T]... [--queue Q]
            [--sub-arg json|frame] [--metadata k=v]... [--broker http|nats] [--broker-address A] [--proto]
  call      --service S --endpoint E --body JSON [--body-b64 B] [--count N] [--interval-ms N]
            [--retries N] [--retry-always] [--timeout-ms N] [--address H:P]
            [--content-type CT] [--metadata k=v]... [--stamp]
  stream    --service S --endpoint E --names a,b,c [--address H:P] [--content-type CT]
            [--placeholder STR] [--timeout-ms N] [--metadata k=v]...
  get       --service S [--wait-ms N]
  list
  watch     --service S [--cache-ms N] [--ready-ms N]
  status-text
  publish   --topic T --body JSON [--body-b64 B] [--count N] [--interval-ms N]
            [--linger-ms N] [--content-type CT] [--metadata k=v]... [--broker http|nats] [--broker-address A]
  subscribe --topic T [--queue Q] [--broker http|nats] [--broker-address A]
`

// Main parses os.Args and runs the sub-command on b. It never returns.
func Main(prog string, b Backend) {
	// Keep the real stdout for JSON lines and send anything else that writes
	// to os.Stdout (stray fmt.Println in libraries) to stderr.
	out = os.Stdout
	os.Stdout = os.Stderr

	usage := usageText
	if x, ok := b.(Extra); ok {
		usage += x.Commands()
	}
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, usage, prog)
		os.Exit(1)
	}
	err := run(b, os.Args[1], os.Args[2:])
	if err == nil {
		os.Exit(0)
	}
	if err == flag.ErrHelp {
		fmt.Fprintf(os.Stderr, usage, prog)
		os.Exit(1)
	}
	if _, ok := err.(usageError); ok {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		fmt.Fprintf(os.Stderr, usage, prog)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%s %s: %v\n", prog, os.Args[1], err)
	os.Exit(1)
}

func run(b Backend, cmd string, args []string) error {
	switch cmd {
	case "serve":
		o := &ServeOptions{Metadata: map[string]string{}}
		var subs multiFlag
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Name, "name", "", "service name")
		fs.StringVar(&o.Address, "address", "127.0.0.1:0", "listen address")
		fs.StringVar(&o.Version, "version", "", "service version (default go-micro's 'latest')")
		fs.Var(&subs, "subscribe", "topic to subscribe to (repeatable)")
		fs.StringVar(&o.Queue, "queue", "", "queue group for --subscribe")
		fs.StringVar(&o.SubArg, "sub-arg", "json", "subscriber argument type: json (any JSON value) or frame (codec/bytes Frame)")
		fs.Var(kvFlag(o.Metadata), "metadata", "server metadata k=v (repeatable)")
		fs.BoolVar(&o.Proto, "proto", false, "also register the Proto handler (Proto.Echo, protobuf StringValue)")
		fs.BoolVar(&o.Debug, "debug", false, "also register go-micro's Debug handler (Debug.Health, Debug.Stats) with request stats (gm5 only)")
		brokerFlags(fs, &o.Broker)
		if err := parse(fs, args); err != nil {
			return err
		}
		o.Subscribe = subs
		if o.Name == "" {
			return usagef("serve: --name is required")
		}
		if o.SubArg != "json" && o.SubArg != "frame" {
			return usagef("serve: --sub-arg must be json or frame")
		}
		if err := checkBroker(&o.Broker); err != nil {
			return err
		}
		return b.Serve(o)

	case "call":
		o := &CallOptions{Metadata: map[string]string{}}
		var body, body64 string
		var bodySet bool
		var interval, timeout int
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Service, "service", "", "service name")
		fs.StringVar(&o.Endpoint, "endpoint", "", "endpoint, e.g. Greeter.Hello")
		bodyFlags(fs, &body, &body64, &bodySet)
		fs.IntVar(&o.Count, "count", 1, "number of calls")
		fs.IntVar(&interval, "interval-ms", 0, "pause between calls")
		fs.IntVar(&o.Retries, "retries", -1, "client retries (default: go-micro default)")
		fs.BoolVar(&o.RetryAlways, "retry-always", false, "retry on every error (client.RetryAlways)")
		fs.IntVar(&timeout, "timeout-ms", 0, "request timeout (whole call incl. retries)")
		fs.StringVar(&o.Address, "address", "", "call this address instead of using the registry")
		fs.StringVar(&o.ContentType, "content-type", "application/json", "request content type")
		fs.Var(kvFlag(o.Metadata), "metadata", "context metadata k=v (repeatable)")
		fs.BoolVar(&o.Stamp, "stamp", false, "add at_ms (start, Unix ms) and took_ms to every result line")
		if err := parse(fs, args); err != nil {
			return err
		}
		if o.Service == "" || o.Endpoint == "" || !bodySet {
			return usagef("call: --service, --endpoint and --body are required")
		}
		if o.Count < 1 {
			return usagef("call: --count must be >= 1")
		}
		var err error
		if o.Body, err = decodeBody(body, body64); err != nil {
			return err
		}
		o.Interval, o.Timeout = ms(interval), ms(timeout)
		return b.Call(o)

	case "stream":
		o := &StreamOptions{Metadata: map[string]string{}}
		var names, placeholder string
		var timeout int
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Service, "service", "", "service name")
		fs.StringVar(&o.Endpoint, "endpoint", "", "endpoint, e.g. Greeter.Stream")
		fs.StringVar(&names, "names", "", "comma separated names")
		fs.StringVar(&o.Address, "address", "", "address instead of registry")
		fs.StringVar(&o.ContentType, "content-type", "application/json", "content type")
		fs.StringVar(&placeholder, "placeholder", "{}\n", "body of the first (placeholder) stream message")
		fs.IntVar(&timeout, "timeout-ms", 30000, "overall deadline for the stream")
		fs.Var(kvFlag(o.Metadata), "metadata", "context metadata k=v (repeatable)")
		if err := parse(fs, args); err != nil {
			return err
		}
		if o.Service == "" || o.Endpoint == "" || names == "" {
			return usagef("stream: --service, --endpoint and --names are required")
		}
		o.Names = strings.Split(names, ",")
		o.Placeholder = []byte(placeholder)
		o.Timeout = ms(timeout)
		return b.Stream(o)

	case "get":
		o := &GetOptions{}
		var wait int
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Service, "service", "", "service name")
		fs.IntVar(&wait, "wait-ms", 0, "keep querying until the result is non-empty or this long has passed")
		if err := parse(fs, args); err != nil {
			return err
		}
		if o.Service == "" {
			return usagef("get: --service is required")
		}
		o.Wait = ms(wait)
		return b.Get(o)

	case "list":
		fs := newFlagSet(cmd)
		if err := parse(fs, args); err != nil {
			return err
		}
		return b.List(&ListOptions{})

	case "watch":
		o := &WatchOptions{}
		var every, ready int
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Service, "service", "", "service name")
		fs.IntVar(&every, "cache-ms", 0, "also poll a go-micro registry cache this often and print its node ids when they change")
		fs.IntVar(&ready, "ready-ms", 15000, "give up (exit 1) if the listener hears no announcement within this time")
		if err := parse(fs, args); err != nil {
			return err
		}
		if o.Service == "" {
			return usagef("watch: --service is required")
		}
		o.CacheEvery, o.Ready = ms(every), ms(ready)
		return b.Watch(o)

	case "status-text":
		fs := newFlagSet(cmd)
		if err := parse(fs, args); err != nil {
			return err
		}
		return b.StatusText(&StatusTextOptions{})

	case "publish":
		o := &PublishOptions{Metadata: map[string]string{}}
		var body, body64 string
		var bodySet bool
		var interval, linger int
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Topic, "topic", "", "topic")
		fs.IntVar(&linger, "linger-ms", 1000, "wait this long after the last publish (async delivery) before exiting")
		bodyFlags(fs, &body, &body64, &bodySet)
		fs.IntVar(&o.Count, "count", 1, "number of publishes")
		fs.IntVar(&interval, "interval-ms", 0, "pause between publishes")
		fs.StringVar(&o.ContentType, "content-type", "application/json", "message content type")
		fs.Var(kvFlag(o.Metadata), "metadata", "context metadata k=v (repeatable)")
		brokerFlags(fs, &o.Broker)
		if err := parse(fs, args); err != nil {
			return err
		}
		if o.Topic == "" || !bodySet {
			return usagef("publish: --topic and --body are required")
		}
		if o.Count < 1 {
			return usagef("publish: --count must be >= 1")
		}
		var err error
		if o.Body, err = decodeBody(body, body64); err != nil {
			return err
		}
		o.Interval, o.Linger = ms(interval), ms(linger)
		if err := checkBroker(&o.Broker); err != nil {
			return err
		}
		return b.Publish(o)

	case "subscribe":
		o := &SubscribeOptions{}
		fs := newFlagSet(cmd)
		fs.StringVar(&o.Topic, "topic", "", "topic")
		fs.StringVar(&o.Queue, "queue", "", "queue group")
		brokerFlags(fs, &o.Broker)
		if err := parse(fs, args); err != nil {
			return err
		}
		if o.Topic == "" {
			return usagef("subscribe: --topic is required")
		}
		if err := checkBroker(&o.Broker); err != nil {
			return err
		}
		return b.Subscribe(o)

	case "-h", "--help", "help":
		return flag.ErrHelp
	}
	if x, ok := b.(Extra); ok {
		if handled, err := x.RunExtra(cmd, args); handled {
			return err
		}
	}
	return usagef("unknown command %q", cmd)
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	return nil
}
