package auth_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/config"
	"github.com/pbi-pusher/pbi-pusher/emulator/aad"
)

const (
	tenant = "tenant-a"
	secret = "client-s3cr3t-value"
	passwd = "user-pa55word"
	user   = "alice@example.test"
)

// cfgFor returns a config whose authority is r and whose CA file trusts r.
func cfgFor(r *aad.Running, method string, edit func(*config.Auth)) *config.Config {
	cfg := &config.Config{
		PowerBI: config.PowerBI{Cloud: "public", CAFile: r.CAFile},
		Auth:    config.Auth{Method: method, Tenant: tenant, AuthorityURL: r.URL},
	}
	if edit != nil {
		edit(&cfg.Auth)
	}
	return cfg
}

func newSource(t *testing.T, cfg *config.Config, opts auth.Options) auth.Source {
	t.Helper()
	src, err := auth.New(cfg, opts)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return src
}

func token(t *testing.T, src auth.Source) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

// writeCertPEM writes cert and key (PKCS#8 or PKCS#1) into one PEM file.
func writeCertPEM(t *testing.T, cert *x509.Certificate, key *rsa.PrivateKey, pkcs1 bool) string {
	t.Helper()
	keyBlock := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if !pkcs1 {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		keyBlock = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), pem.EncodeToMemory(keyBlock)...)
	path := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeFile replaces path's content atomically (the way the kubelet rotates projected tokens).
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// assertions records federated assertions the fake AAD received.
type assertions struct {
	mu     sync.Mutex
	seen   []string
	accept map[string]bool
}

func (a *assertions) check(_, assertion string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, assertion)
	return a.accept[assertion]
}

func (a *assertions) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return ""
	}
	return a.seen[len(a.seen)-1]
}

// clock is a settable clock shared by the fake AAD and the token cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// syncBuffer is a goroutine-safe prompt writer.
type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.sb.String() }

// writeCertPFX writes cert and key as a PKCS#12 file protected by password, with openssl; legacy
// selects the classic 3DES encryption (else OpenSSL 3's default AES).
func writeCertPFX(t *testing.T, cert *x509.Certificate, key *rsa.PrivateKey, password string, legacy bool) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: cannot build a PFX")
	}
	pemPath := writeCertPEM(t, cert, key, false)
	pfx := filepath.Join(t.TempDir(), "client.pfx")
	args := []string{"pkcs12", "-export", "-in", pemPath, "-out", pfx, "-passout", "pass:" + password}
	if legacy {
		args = append(args, "-legacy")
	}
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return pfx
}
