module github.com/authpool/authpool

go 1.26.0

require (
	github.com/creack/pty v1.1.24
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.49.0
)

require github.com/stretchr/testify v1.8.1 // indirect
