// qasm-quicgo-client: an HTTP/3 client built on quic-go (an implementation
// independent of ngtcp2) for the interoperability suite. It opens
// -connections connections one after the other, sends -requests GET
// /bytes/N requests on each, checks every body against the pattern
// qasm-h3-server serves, and can rebind mid-transfer: switch to a fresh local
// UDP socket (a new source port, as behind a NAT whose mapping changed),
// optionally closing the old one so that nothing sent to the old address is
// ever read again. It prints one JSON line with the results.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	quic "github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/http3"
)

// The body of /bytes/N is byte j = (7*j + j/256) mod 256, repeating every
// 65521 bytes (migration-bench/content.h); built here independently.
const patternPeriod = 65521

var pattern = func() []byte {
	p := make([]byte, patternPeriod)
	for j := range p {
		p[j] = byte((7*j + j/256) % 256)
	}
	return p
}()

type datagram struct {
	b    []byte
	addr net.Addr
}

// rebindConn is the net.PacketConn quic-go uses. Writes go out of the
// current socket; reads come from every socket still open, through one
// channel, so that closing a socket never surfaces as a read error (quic-go
// tears the whole connection down on one).
type rebindConn struct {
	mu      sync.Mutex
	cur     *net.UDPConn
	old     []*net.UDPConn
	network string
	laddr   *net.UDPAddr
	in      chan datagram
	done    chan struct{}
	closed  bool
	rebinds int
}

func newRebindConn(network string, laddr *net.UDPAddr) (*rebindConn, error) {
	c := &rebindConn{network: network, laddr: laddr,
		in: make(chan datagram, 1024), done: make(chan struct{})}
	u, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	c.cur = u
	go c.reader(u)
	return c, nil
}

func (c *rebindConn) reader(u *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, addr, err := u.ReadFrom(buf)
		if err != nil {
			return // closed: the rebinding or Close did it
		}
		b := make([]byte, n)
		copy(b, buf[:n])
		select {
		case c.in <- datagram{b, addr}:
		case <-c.done:
			return
		default: // full: dropped, as a socket buffer would
		}
	}
}

// rebind moves the writes to a new socket on a kernel-chosen port; with
// closeOld the previous socket is closed at once.
func (c *rebindConn) rebind(closeOld bool) error {
	u, err := net.ListenUDP(c.network, c.laddr)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		u.Close()
		return net.ErrClosed
	}
	if closeOld {
		c.cur.Close()
	} else {
		c.old = append(c.old, c.cur)
	}
	c.cur = u
	c.rebinds++
	go c.reader(u)
	return nil
}

func (c *rebindConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case d := <-c.in:
		return copy(p, d.b), d.addr, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *rebindConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	u := c.cur
	c.mu.Unlock()
	n, err := u.WriteTo(p, addr)
	if err != nil && errors.Is(err, net.ErrClosed) {
		return len(p), nil // raced with a rebinding: as if lost
	}
	return n, err
}

func (c *rebindConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	c.cur.Close()
	for _, u := range c.old {
		u.Close()
	}
	return nil
}

func (c *rebindConn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.LocalAddr()
}

func (c *rebindConn) SetDeadline(t time.Time) error      { return nil }
func (c *rebindConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *rebindConn) SetWriteDeadline(t time.Time) error { return nil }

type result struct {
	Connections    int     `json:"connections"`
	RequestsOK     int     `json:"requests_ok"`
	RequestsFailed int     `json:"requests_failed"`
	Bytes          int64   `json:"bytes"`
	BadBodies      int     `json:"bad_bodies"` // bytes that differ from the pattern
	Rebinds        int     `json:"rebinds"`
	Pokes          int     `json:"pokes"`
	PokesFailed    int     `json:"pokes_failed"`
	SHA256         string  `json:"sha256"`
	DurationS      float64 `json:"duration_s"`
	// the slowest request that followed a failed one on the same connection:
	// how long the server took to serve a client that spoke again (-1: none)
	AfterFailureMS float64  `json:"after_failure_ms_max"`
	Errors         []string `json:"errors"`
}

// checkBody reads a /bytes/N body, compares it with the pattern and feeds the
// running checksum; returns the byte count, whether the bytes read match the
// pattern, and the read error (nil when the whole body arrived).
func checkBody(r io.Reader, want int64, h hash.Hash) (int64, bool, error) {
	buf := make([]byte, 32768)
	var off int64
	ok := true
	for {
		n, err := r.Read(buf)
		for i := 0; i < n; i++ {
			if buf[i] != pattern[(off+int64(i))%patternPeriod] {
				ok = false
				break
			}
		}
		h.Write(buf[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return off, ok, err
		}
	}
	if off != want {
		return off, ok, fmt.Errorf("body of %d bytes, expected %d", off, want)
	}
	return off, ok, nil
}

func main() {
	target := flag.String("connect", "127.0.0.1:4433", "server address HOST:PORT ([::1]:PORT for IPv6)")
	conns := flag.Int("connections", 1, "connections, one after the other")
	reqs := flag.Int("requests", 1, "requests per connection")
	size := flag.Int64("size", 1000, "body size: GET /bytes/SIZE")
	rebindEvery := flag.Duration("rebind-every", 0, "rebind to a new local port this often while a connection is open (0: never)")
	rebindMax := flag.Int("rebinds", 1, "at most this many rebindings per connection")
	closeOld := flag.Bool("close-old", false, "close the old socket at each rebinding (its NAT mapping is gone)")
	timeout := flag.Duration("timeout", 20*time.Second, "per request")
	idle := flag.Duration("idle-timeout", 5*time.Second, "QUIC idle timeout")
	poke := flag.Bool("poke", false, "after each rebinding send a small extra request (GET /bytes/1), so the new address speaks at once")
	keepAlive := flag.Duration("keepalive", 0, "quic-go KeepAlivePeriod: a PING after this long without input (0: none)")
	linger := flag.Duration("linger", 200*time.Millisecond, "keep each closed connection's socket open this long (the peer's packets still reach quic-go)")
	flag.Parse()
	// The wrapper is not a *net.UDPConn, so quic-go cannot size its buffers; say nothing.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")

	res := result{Errors: []string{}, AfterFailureMS: -1}
	start := time.Now()
	sum := sha256.New()
	host, _, err := net.SplitHostPort(*target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "qasm-quicgo-client: -connect:", err)
		os.Exit(2)
	}
	raddr, err := net.ResolveUDPAddr("udp", *target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "qasm-quicgo-client: -connect:", err)
		os.Exit(2)
	}
	network, laddr := "udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if raddr.IP.To4() == nil {
		network, laddr = "udp6", &net.UDPAddr{IP: net.IPv6loopback}
	}
	addErr := func(s string) {
		if len(res.Errors) < 10 {
			res.Errors = append(res.Errors, s)
		}
	}
	for ci := 0; ci < *conns; ci++ {
		pc, err := newRebindConn(network, laddr)
		if err != nil {
			addErr(err.Error())
			res.RequestsFailed += *reqs
			continue
		}
		rt := &http3.RoundTripper{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: host},
			QuicConfig: &quic.Config{MaxIdleTimeout: *idle, HandshakeIdleTimeout: 5 * time.Second,
				KeepAlivePeriod: *keepAlive},
			Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, cfg *quic.Config) (quic.EarlyConnection, error) {
				return quic.DialEarlyContext(ctx, pc, raddr, host, tlsCfg, cfg)
			},
		}
		client := &http.Client{Transport: rt, Timeout: *timeout}
		base := "https://" + *target
		if raddr.IP.To4() == nil {
			base = fmt.Sprintf("https://[%s]:%d", raddr.IP, raddr.Port)
		}
		url := fmt.Sprintf("%s/bytes/%d", base, *size)
		var pokes, pokesFailed int32
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// inflight: a request is running; ready: this connection has had a
		// response, so its handshake is over (a rebinding before that is not
		// what the suite tests: ngtcp2 ignores packets from a new address
		// during the handshake, RFC 9000 9).
		var inflight, ready int32
		if *rebindEvery > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.NewTicker(*rebindEvery)
				defer t.Stop()
				for n := 0; n < *rebindMax; {
					select {
					case <-stop:
						return
					case <-t.C:
						// only mid-transfer: a rebinding between connections tests nothing
						if atomic.LoadInt32(&inflight) == 0 || atomic.LoadInt32(&ready) == 0 {
							continue
						}
						if err := pc.rebind(*closeOld); err != nil {
							addErr("rebind: " + err.Error())
							return
						}
						n++
						if *poke {
							wg.Add(1)
							go func() {
								defer wg.Done()
								atomic.AddInt32(&pokes, 1)
								resp, err := client.Get(base + "/bytes/1")
								if err == nil {
									_, err = io.Copy(io.Discard, resp.Body)
									resp.Body.Close()
								}
								if err != nil {
									atomic.AddInt32(&pokesFailed, 1)
								}
							}()
						}
					}
				}
			}()
		}
		prevFailed := false
		for ri := 0; ri < *reqs; ri++ {
			atomic.StoreInt32(&inflight, 1)
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				prevFailed = true
				res.RequestsFailed++
				addErr(fmt.Sprintf("conn %d req %d: %v", ci, ri, err))
				atomic.StoreInt32(&inflight, 0)
				continue
			}
			atomic.StoreInt32(&ready, 1)
			n, ok, rerr := checkBody(resp.Body, *size, sum)
			resp.Body.Close()
			atomic.StoreInt32(&inflight, 0)
			res.Bytes += n
			if !ok {
				res.BadBodies++
			}
			if resp.StatusCode == 200 && ok && rerr == nil {
				res.RequestsOK++
				if ms := float64(time.Since(t0).Microseconds()) / 1000; prevFailed && ms > res.AfterFailureMS {
					res.AfterFailureMS = ms
				}
				prevFailed = false
			} else {
				prevFailed = true
				res.RequestsFailed++
				addErr(fmt.Sprintf("conn %d req %d: status %d, %d bytes, pattern ok %v, %v",
					ci, ri, resp.StatusCode, n, ok, rerr))
			}
		}
		close(stop)
		wg.Wait()
		rt.Close() // CONNECTION_CLOSE to the server
		res.Connections++
		pc.mu.Lock()
		res.Rebinds += pc.rebinds
		pc.mu.Unlock()
		res.Pokes += int(atomic.LoadInt32(&pokes))
		res.PokesFailed += int(atomic.LoadInt32(&pokesFailed))
		// Like a real client that keeps its socket, let late packets arrive.
		time.Sleep(*linger)
		pc.Close()
	}
	res.SHA256 = hex.EncodeToString(sum.Sum(nil))
	res.DurationS = time.Since(start).Seconds()
	out, _ := json.Marshal(res)
	fmt.Println(strings.TrimSpace(string(out)))
	if res.RequestsFailed > 0 {
		os.Exit(1)
	}
}
