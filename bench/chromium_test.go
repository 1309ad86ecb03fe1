package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromium runs headless Chromium for a test and drives it through the
// DevTools protocol, over a websocket client just big enough for it (the
// standard library has none).
type chromium struct {
	t    *testing.T
	cmd  *exec.Cmd
	port string
}

// startChromium starts headless Chromium, or skips the test when it is
// not installed.
func startChromium(t *testing.T) *chromium {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it): the HTML report is not checked in a browser")
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers die with it
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &chromium{t: t, cmd: cmd}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on ws://127\.0\.0\.1:(\d+)/`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case c.port = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start its DevTools server within 60s")
	}
	return c
}

// pageResult is what loading a page showed.
type pageResult struct {
	errors []string        // console errors, exceptions, error log entries
	value  json.RawMessage // the expression's value
}

// load opens file in a new tab, waits for it to load, collects every
// error it logs, and evaluates expr (which must return a JSON string).
func (c *chromium) load(file, expr string) pageResult {
	t := c.t
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:"+c.port+"/json/new?about:blank", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var target struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	err = json.NewDecoder(resp.Body).Decode(&target)
	resp.Body.Close()
	if err != nil || target.WebSocketDebuggerURL == "" {
		t.Fatalf("opening a tab: %v", err)
	}
	ws, err := dialWebsocket(target.WebSocketDebuggerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetDeadline(time.Now().Add(60 * time.Second))

	var res pageResult
	id := 0
	// call sends a command and reads messages until its answer, keeping
	// the errors among the events; until, when not empty, is an event to
	// wait for after the answer.
	call := func(method string, params any, until string) json.RawMessage {
		id++
		msg, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
		if err := ws.write(msg); err != nil {
			t.Fatal(err)
		}
		var answer json.RawMessage
		for answer == nil || until != "" {
			b, err := ws.read()
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			var m struct {
				ID     int             `json:"id"`
				Method string          `json:"method"`
				Params json.RawMessage `json:"params"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			switch {
			case m.ID == id && m.Error != nil:
				t.Fatalf("%s: %s", method, m.Error)
			case m.ID == id:
				answer = m.Result
			case m.Method == until:
				until = ""
			case m.Method == "Runtime.exceptionThrown":
				res.errors = append(res.errors, "exception: "+string(m.Params))
			case m.Method == "Runtime.consoleAPICalled" && strings.Contains(string(m.Params), `"type":"error"`):
				res.errors = append(res.errors, "console: "+string(m.Params))
			case m.Method == "Log.entryAdded" && strings.Contains(string(m.Params), `"level":"error"`):
				res.errors = append(res.errors, "log: "+string(m.Params))
			}
		}
		return answer
	}
	call("Log.enable", map[string]any{}, "")
	call("Runtime.enable", map[string]any{}, "")
	call("Page.enable", map[string]any{}, "")
	call("Page.navigate", map[string]any{"url": (&url.URL{Scheme: "file", Path: file}).String()}, "Page.loadEventFired")
	out := call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, "")
	var ev struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(out, &ev); err != nil || ev.ExceptionDetails != nil {
		t.Fatalf("evaluating: %v %s", err, ev.ExceptionDetails)
	}
	res.value = json.RawMessage(ev.Result.Value)
	// A last round trip, so that errors logged while loading are in.
	call("Runtime.evaluate", map[string]any{"expression": "1"}, "")
	return res
}

// websocket is a client end of a websocket (RFC 6455), text frames only.
type websocket struct {
	net.Conn
	br *bufio.Reader
}

func dialWebsocket(u string) (*websocket, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	nc, err := net.DialTimeout("tcp", pu.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		pu.RequestURI(), pu.Host, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	return &websocket{nc, br}, nil
}

func (w *websocket) write(payload []byte) error {
	hdr := []byte{0x81} // FIN, text
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = binary.BigEndian.AppendUint64(append(hdr, 0x80|127), uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	hdr = append(hdr, mask...)
	body := make([]byte, len(payload))
	for i, b := range payload {
		body[i] = b ^ mask[i%4]
	}
	_, err := w.Write(append(hdr, body...))
	return err
}

// read returns the next whole message.
func (w *websocket) read() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 64<<20 {
			return nil, errors.New("websocket: message too large")
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, err
		}
		switch h[0] & 0x0f {
		case 0x8:
			return nil, errors.New("websocket: closed by chromium")
		case 0x9, 0xa: // ping, pong: chromium sends none that need an answer here
			continue
		}
		msg = append(msg, payload...)
		if h[0]&0x80 != 0 {
			return msg, nil
		}
	}
}

// chartCheck measures, in the page, every chart and the series it drew.
const chartCheck = `JSON.stringify([...document.querySelectorAll('svg.chart')].map(s => ({
	id: s.id,
	width: s.getBoundingClientRect().width,
	drawn: [...s.querySelectorAll('path.series, path.area')].filter(p => {
		const b = p.getBBox();
		return p.getTotalLength() > 0 && (b.width > 0 || b.height > 0);
	}).length,
})))`

type chartStat struct {
	ID    string  `json:"id"`
	Width float64 `json:"width"`
	Drawn int     `json:"drawn"`
}

// The HTML report, opened in Chromium, loads with no error (its policy
// forbids loading anything, so a chart that fetched a script or a font
// would log one), and every chart draws its data; two runs overlay.
func TestHTMLInChromium(t *testing.T) {
	c := startChromium(t)
	_, pa, _ := recordedRun(t, "before")
	_, pb, _ := recordedRun(t, "after")
	reps, err := ReadRecords([]string{pa, pb}, ReadOptions{Separate: true})
	if err != nil {
		t.Fatal(err)
	}
	page := writeHTMLFile(t, reps)
	res := c.load(page, chartCheck)
	if len(res.errors) > 0 {
		t.Errorf("errors while loading the report:\n%s", strings.Join(res.errors, "\n"))
	}
	var charts []chartStat
	if err := json.Unmarshal(res.value, &charts); err != nil {
		t.Fatalf("%v: %s", err, res.value)
	}
	want := map[string]int{"throughput": 4, "latency": 6, "distribution": 2, "outcomes-0": 3, "outcomes-1": 3}
	for _, ch := range charts {
		if ch.Width <= 0 || ch.Drawn < want[ch.ID] {
			t.Errorf("chart %s: %g px wide, %d series drawn, want at least %d", ch.ID, ch.Width, ch.Drawn, want[ch.ID])
		}
		delete(want, ch.ID)
	}
	if len(want) > 0 {
		t.Errorf("charts missing: %v (got %+v)", want, charts)
	}

	// The harness itself: a page that reaches for the network under the
	// report's policy is caught.
	bad := strings.Replace(readFile(t, page), "</body>", `<img src="http://192.0.2.1/x.png" alt=""></body>`, 1)
	badPage := t.TempDir() + "/bad.html"
	os.WriteFile(badPage, []byte(bad), 0o644)
	if res := c.load(badPage, `JSON.stringify(1)`); len(res.errors) == 0 {
		t.Error("a page loading an image from the network logged no error: the check would miss one")
	}
}

func writeHTMLFile(t *testing.T, reps []*Report) string {
	t.Helper()
	p := t.TempDir() + "/report.html"
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, reps); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
