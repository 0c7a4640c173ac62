// lostreq: counts requests a go-micro-speaking server reads and never answers. --c workers
// each send go-micro's unary request (spec §4.11 headers, `Greeter.Hello` with a JSON body)
// one at a time on a kept-alive connection, the next as soon as the previous reply is read,
// until --n requests are sent in all. A request with no reply within --wait counts as lost;
// the worker then sends one more request on the same connection, to tell a server that
// dropped one request on a live connection from one that closed or hung it, and goes on on
// a new connection. Prints one JSON line:
// {"requests","answered","lost","alive_after_loss","errors","seconds","lost_at":[…]}.
// Standard library only: the client is the same for every server it is pointed at.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests       int64   `json:"requests"`
	Answered       int64   `json:"answered"`
	Lost           int64   `json:"lost"`
	AliveAfterLoss int64   `json:"alive_after_loss"`
	Errors         int64   `json:"errors"`
	Seconds        float64 `json:"seconds"`
	LostAt         []int   `json:"lost_at"` // the request's index on its connection
}

func main() {
	addr := flag.String("addr", "", "server address host:port")
	service := flag.String("service", "greeter", "Micro-Service header")
	n := flag.Int64("n", 100000, "requests to send in all")
	c := flag.Int("c", 4, "connections in use at once, one request in flight on each")
	wait := flag.Duration("wait", 2*time.Second, "how long a reply may take before the request counts as lost")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "lostreq: --addr is required")
		os.Exit(2)
	}
	var (
		res  result
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Load() < *n {
				conn, err := net.Dial("tcp", *addr)
				if err != nil {
					atomic.AddInt64(&res.Errors, 1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				br := bufio.NewReader(conn)
				for i := 0; ; i++ {
					seq := next.Add(1)
					if seq > *n {
						break
					}
					atomic.AddInt64(&res.Requests, 1)
					outcome := exchange(conn, br, *addr, *service, seq, *wait)
					if outcome == answered {
						atomic.AddInt64(&res.Answered, 1)
						continue
					}
					if outcome == timedOut {
						atomic.AddInt64(&res.Lost, 1)
						mu.Lock()
						res.LostAt = append(res.LostAt, i)
						mu.Unlock()
						// The lost request's reply, if it ever comes, would answer the probe:
						// only a reply to the probe's own id counts.
						if exchange(conn, br, *addr, *service, -seq, *wait) == answered {
							atomic.AddInt64(&res.AliveAfterLoss, 1)
						}
					} else {
						atomic.AddInt64(&res.Errors, 1)
					}
					break
				}
				conn.Close()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	if res.LostAt == nil {
		res.LostAt = []int{}
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

type outcome int

const (
	answered outcome = iota
	timedOut
	failed
)

// exchange sends request `id` and reads replies until the one that carries its greeting.
func exchange(conn net.Conn, br *bufio.Reader, addr, service string, id int64, wait time.Duration) outcome {
	name := fmt.Sprintf("n%d", id)
	body := fmt.Sprintf(`{"name":%q}`, name)
	req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nContent-Type: application/json\r\n"+
		"Micro-Endpoint: Greeter.Hello\r\nMicro-Id: %d\r\nMicro-Method: Greeter.Hello\r\nMicro-Service: %s\r\n"+
		"Timeout: 5000000000\r\nContent-Length: %d\r\n\r\n%s", addr, id, service, len(body), body)
	if _, err := conn.Write([]byte(req)); err != nil {
		return failed
	}
	want := []byte("Hello " + name + `"`)
	deadline := time.Now().Add(wait)
	for {
		_ = conn.SetReadDeadline(deadline)
		rsp, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return timedOut
			}
			return failed
		}
		got, err := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if err != nil || rsp.StatusCode != http.StatusOK || rsp.Header.Get("Micro-Error") != "" {
			return failed
		}
		if bytes.Contains(got, want) {
			return answered
		}
		// A late reply to an earlier request: read on.
	}
}
