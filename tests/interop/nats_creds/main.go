// Command nats_creds writes a NATS operator-mode setup with the NATS JWT library (the one
// nsc is built on): a server configuration trusting one operator, with its accounts
// preloaded, and user creds files. Test material for micro's NATS_CREDS support.
//
//	go run . DIR
//
// DIR/server.conf  operator, system account, MEMORY resolver with the accounts preloaded
// DIR/user.creds   a user of a preloaded account: the server accepts it
// DIR/stranger.creds a user of an account the server was never given: refused
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats_creds:", err)
		os.Exit(1)
	}
	return v
}

// account makes an account signed by the operator; its JWT and key pair.
func account(op nkeys.KeyPair, name string) (string, string, nkeys.KeyPair) {
	kp := must(nkeys.CreateAccount())
	pub := must(kp.PublicKey())
	claims := jwt.NewAccountClaims(pub)
	claims.Name = name
	return pub, must(claims.Encode(op)), kp
}

// creds makes a user of the account and returns its creds file's text.
func creds(acc nkeys.KeyPair, name string) []byte {
	kp := must(nkeys.CreateUser())
	claims := jwt.NewUserClaims(must(kp.PublicKey()))
	claims.Name = name
	token := must(claims.Encode(acc))
	return must(jwt.FormatUserConfig(token, must(kp.Seed())))
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: nats_creds DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	op := must(nkeys.CreateOperator())
	opClaims := jwt.NewOperatorClaims(must(op.PublicKey()))
	opClaims.Name = "micro-test"
	opJWT := must(opClaims.Encode(op))
	sysPub, sysJWT, _ := account(op, "SYS")
	appPub, appJWT, app := account(op, "APP")
	_, _, stranger := account(op, "STRANGER") // never given to the server

	conf := fmt.Sprintf("operator: %q\nsystem_account: %q\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n  %s: %q\n}\n",
		opJWT, sysPub, sysPub, sysJWT, appPub, appJWT)
	files := map[string][]byte{
		"server.conf":    []byte(conf),
		"user.creds":     creds(app, "micro-user"),
		"stranger.creds": creds(stranger, "stranger"),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "nats_creds:", err)
			os.Exit(1)
		}
	}
}
