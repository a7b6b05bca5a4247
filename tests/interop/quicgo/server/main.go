// qasm-quicgo-server: an HTTP/3 server built on quic-go (an implementation
// independent of ngtcp2) for the interoperability suite. It serves the same
// GET /bytes/N body as qasm-h3-server (so qasm-h3-client downloads can be
// checked byte for byte) and POST /echo. It listens on -listen (port 0: the
// kernel picks one), prints "listening HOST:PORT" once bound, and one JSON
// line of counters at SIGTERM/SIGINT.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	quic "github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/http3"
)

const patternPeriod = 65521

var pattern = func() []byte {
	p := make([]byte, patternPeriod)
	for j := range p {
		p[j] = byte((7*j + j/256) % 256)
	}
	return p
}()

// selfSigned makes a throwaway certificate; clients of the suite do not verify it.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "qasm-quicgo-server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

var requests, bytesSent, notFound int64

func handler(w http.ResponseWriter, r *http.Request) {
	atomic.AddInt64(&requests, 1)
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/bytes/"):
		n, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/bytes/"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("content-length", strconv.FormatInt(n, 10))
		w.Header().Set("content-type", "application/octet-stream")
		for off := int64(0); off < n; {
			start := off % patternPeriod
			chunk := int64(patternPeriod) - start
			if chunk > n-off {
				chunk = n - off
			}
			if _, err := w.Write(pattern[start : start+chunk]); err != nil {
				return
			}
			off += chunk
			atomic.AddInt64(&bytesSent, chunk)
		}
	case r.Method == http.MethodPost && r.URL.Path == "/echo":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		w.Header().Set("content-length", strconv.Itoa(len(body)))
		n, _ := w.Write(body)
		atomic.AddInt64(&bytesSent, int64(n))
	default:
		atomic.AddInt64(&notFound, 1)
		http.NotFound(w, r)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve, HOST:PORT (port 0: any)")
	idle := flag.Duration("idle-timeout", 10*time.Second, "QUIC idle timeout")
	flag.Parse()

	cert, err := selfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qasm-quicgo-server:", err)
		os.Exit(1)
	}
	ua, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "qasm-quicgo-server: -listen:", err)
		os.Exit(2)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		fmt.Fprintln(os.Stderr, "qasm-quicgo-server:", err)
		os.Exit(1)
	}
	srv := &http3.Server{
		Handler:    http.HandlerFunc(handler),
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{cert}},
		QuicConfig: &quic.Config{MaxIdleTimeout: *idle},
	}
	fmt.Printf("listening %s\n", pc.LocalAddr())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(pc) }()
	select {
	case <-sigs:
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "qasm-quicgo-server:", err)
	}
	srv.Close()
	out, _ := json.Marshal(map[string]int64{
		"requests":   atomic.LoadInt64(&requests),
		"bytes_sent": atomic.LoadInt64(&bytesSent),
		"not_found":  atomic.LoadInt64(&notFound),
	})
	fmt.Println(string(out))
}
