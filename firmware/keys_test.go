package firmware

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// The signing key is generated once and read back on the next start.
func TestSigningKeyPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "firmware", "signing.key")
	k1, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateSigningKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second start: %v, same key %v", err, k1.Equal(k2))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode())
	}
}

func TestLoadTrustedKeys(t *testing.T) {
	pubs := make([]ed25519.PublicKey, 3)
	for i := range pubs {
		pubs[i], _, _ = ed25519.GenerateKey(rand.Reader)
	}
	der, _ := x509.MarshalPKIXPublicKey(pubs[0])
	text := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})) +
		"# the factory's offline key\n" + base64.StdEncoding.EncodeToString(pubs[1]) + "\n\n" + hex.EncodeToString(pubs[2]) + " # spare\n"
	path := filepath.Join(t.TempDir(), "trusted.pub")
	os.WriteFile(path, []byte(text), 0o600)
	keys, err := LoadTrustedKeys(path)
	if err != nil || len(keys) != 3 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	for i := range pubs {
		if !keys[i].Equal(pubs[i]) {
			t.Errorf("key %d differs", i)
		}
	}
	if keys, err := LoadTrustedKeys(filepath.Join(t.TempDir(), "none")); err != nil || keys != nil {
		t.Errorf("missing file: %v %v", keys, err)
	}
	os.WriteFile(path, []byte("not a key\n"), 0o600)
	if _, err := LoadTrustedKeys(path); err == nil {
		t.Error("garbage accepted")
	}
}
