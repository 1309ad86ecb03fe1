package framing_test

import (
	"fmt"

	"github.com/authpool/authpool/framing"
)

func Example() {
	req, err := framing.ParseRequest([]byte("auth:alice:example.com:pa:ss"))
	if err != nil {
		panic(err)
	}
	fmt.Println(req) // the password is never printed

	wire, _ := framing.Ejabberd.AppendRequest(nil, req)
	fmt.Printf("% x\n", wire[:2])

	var d framing.AnswerDecoder // generic
	for _, chunk := range []string{"1", "\r\n"} {
		_, yes, done, err := d.Feed([]byte(chunk))
		fmt.Println(yes, done, err)
	}
	// Output:
	// auth alice@example.com password=(redacted)
	// 00 1c
	// false false <nil>
	// true true <nil>
}
