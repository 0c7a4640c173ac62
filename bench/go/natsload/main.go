// natsload: a closed-loop NATS request-reply caller, the load generator of the nats-py row
// of issue 18 (bench/run.sh ONLY=hostserve). --c goroutines each send the bench greeter's
// request to --subject and wait for the reply, for --warmup then --d seconds; prints one
// JSON line in loadgen's shape: {"requests","errors","seconds","rate","p50_us","p99_us","p999_us"}.
// A reply that does not carry the greeting counts as an error.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL")
	subject := flag.String("subject", "greeter.hello", "the responder's subject")
	c := flag.Int("c", 64, "requests in flight")
	d := flag.Duration("d", 3*time.Second, "measured window")
	warmup := flag.Duration("warmup", time.Second, "warm-up before the window")
	flag.Parse()

	nc, err := nats.Connect(*url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsload:", err)
		os.Exit(1)
	}
	defer nc.Close()
	body := []byte(`{"name":"bench"}`)
	want := []byte("Hello bench")

	var measuring atomic.Bool
	var errs atomic.Int64
	stop := make(chan struct{})
	lat := make([][]time.Duration, *c)
	var wg sync.WaitGroup
	for i := 0; i < *c; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				msg, err := nc.Request(*subject, body, 5*time.Second)
				if !measuring.Load() {
					continue
				}
				if err != nil || !bytes.Contains(msg.Data, want) {
					errs.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	time.Sleep(*warmup)
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(*d)
	measuring.Store(false)
	secs := time.Since(t0).Seconds()
	close(stop)
	wg.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	pct := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(q*float64(len(all)-1))].Microseconds())
	}
	out, _ := json.Marshal(map[string]any{
		"requests": int64(len(all)) + errs.Load(), "errors": errs.Load(), "seconds": secs,
		"rate": float64(len(all)) / secs, "p50_us": pct(0.5), "p99_us": pct(0.99), "p999_us": pct(0.999),
	})
	fmt.Println(string(out))
}
