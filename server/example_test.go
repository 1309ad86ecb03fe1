package server_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/authpool/authpool/pool"
	"github.com/authpool/authpool/server"
)

func Example() {
	dir, _ := os.MkdirTemp("", "authpool-example")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "authpool.sock")

	p, err := pool.New(pool.Config{Command: []string{"../testscripts/sample.py"}})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	l, err := server.ListenUnix(sock, 0o660, -1)
	if err != nil {
		panic(err)
	}
	srv, _ := server.New(server.Config{Pool: p})
	go srv.Serve(l)
	defer srv.Close()

	c, err := net.Dial("unix", sock)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Fprint(c, "auth:alice:example.com:wonderland\nisuser:nobody:example.com\n")
	r := bufio.NewReader(c)
	for range 2 {
		answer, _ := r.ReadString('\n')
		fmt.Print(answer)
	}
	// Output:
	// 1
	// 0
}
