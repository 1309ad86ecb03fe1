package ptyproc_test

import (
	"bufio"
	"fmt"
	"time"

	"github.com/authpool/authpool/ptyproc"
)

func Example() {
	// cat under a raw pty: what comes back is cat's output only, with no
	// echo of the input, and the control byte 0x03 is data, not SIGINT.
	p, err := ptyproc.Start(ptyproc.Config{Args: []string{"cat"}})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	p.SetWriteDeadline(time.Now().Add(5 * time.Second))
	p.Write([]byte("pass\x03word\n"))
	p.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(p).ReadString('\n')
	fmt.Printf("%q %v\n", line, err)
	// Output:
	// "pass\x03word\n" <nil>
}
