package s3_test

import (
	"testing"

	"github.com/lawfleet/fleet/fleet/blobstore/blobtest"
	"github.com/lawfleet/fleet/fleet/blobstore/s3"
	"github.com/lawfleet/fleet/internal/testenv"
)

// TestContract runs against a real versitygw.
func TestContract(t *testing.T) {
	gw := testenv.StartS3(t)
	s, err := s3.New(t.Context(), s3.Config{Endpoint: gw.Endpoint, AccessKey: gw.AccessKey, SecretKey: gw.SecretKey,
		Bucket: "evidence", Prefix: "fleet/", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want s3.Config
		ok   bool
	}{
		{"s3://k:s@127.0.0.1:7070/ev/pre", s3.Config{Endpoint: "127.0.0.1:7070", AccessKey: "k", SecretKey: "s", Bucket: "ev", Prefix: "pre/"}, true},
		{"s3s://k:s@minio.example:443/ev", s3.Config{Endpoint: "minio.example:443", Secure: true, AccessKey: "k", SecretKey: "s", Bucket: "ev"}, true},
		{"s3://k:s@host/", s3.Config{}, false},
		{"http://host/b", s3.Config{}, false},
	} {
		got, err := s3.ParseURL(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseURL(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
