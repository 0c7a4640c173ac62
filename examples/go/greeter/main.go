// A plain go-micro (v5) greeter, to run beside the Rust, Python, Node and C ones.
//
//	go run . serve            # serves greeter: Greeter.Hello over mDNS + HTTP
//	go run . call [NAME] [SERVICE]   # calls SERVICE (default greeter) Greeter.Hello
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/client"
)

// Request is the greeter's request.
type Request struct {
	Name string `json:"name"`
}

// Response is the greeter's reply.
type Response struct {
	Message string `json:"message"`
}

// Greeter answers Hello.
type Greeter struct{}

// Hello greets by name.
func (g *Greeter) Hello(ctx context.Context, req *Request, rsp *Response) error {
	rsp.Message = "Hello " + req.Name + " (from Go)"
	return nil
}

func arg(i int, def string) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	return def
}

func main() {
	switch arg(1, "serve") {
	case "serve":
		svc := micro.New(arg(2, "greeter"))
		if err := svc.Handle(new(Greeter)); err != nil {
			log.Fatal(err)
		}
		if err := svc.Run(); err != nil {
			log.Fatal(err)
		}
	case "call":
		c := client.NewClient()
		req := c.NewRequest(arg(3, "greeter"), "Greeter.Hello", &Request{Name: arg(2, "John")})
		rsp := new(Response)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		for i := 0; i < 25; i++ { // a server that just started may need a moment to be found
			if err = c.Call(ctx, req, rsp); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rsp.Message)
	default:
		log.Fatalf("usage: %s serve [NAME] | call [NAME] [SERVICE]", os.Args[0])
	}
}
