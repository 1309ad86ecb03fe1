module github.com/authpool/authpool

go 1.26.0

require (
	github.com/creack/pty v1.1.24
	github.com/kballard/go-shellquote v0.0.0-20180428030007-95032a82bc51
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)

require github.com/stretchr/testify v1.8.1 // indirect
