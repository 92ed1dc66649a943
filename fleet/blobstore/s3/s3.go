// Package s3 is the fleet.BlobStore on S3-compatible object storage
// (MinIO, versitygw, AWS S3) through minio-go, for production and for
// several fleetd processes sharing one vault.
//
// Objects are content-addressed: PREFIX/sha256/ab/abcd…. S3 has no rename,
// so Put streams to PREFIX/incoming/<random>, hashing as it sends, and only
// when the bytes hash to the declared SHA-256 copies the object server-side
// to its final key and removes the incoming one. A final key therefore
// only ever holds bytes that matched their name.
package s3

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lawfleet/fleet/fleet"
)

// Config names the bucket and how to reach it.
type Config struct {
	Endpoint  string // host:port
	Secure    bool   // https
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	Prefix    string // key prefix, e.g. "evidence/"; may be empty
	// PartSize is the multipart chunk (default 16 MiB): it bounds the
	// memory one upload holds.
	PartSize uint64
}

// ParseURL reads s3://ACCESS:SECRET@host:port/bucket/prefix?secure=false
// (the -evidence flag's form).
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "s3s") || u.Host == "" {
		return Config{}, errors.New("s3 blob store: want s3://KEY:SECRET@host:port/bucket[/prefix]")
	}
	c := Config{Endpoint: u.Host, Secure: u.Scheme == "s3s" || u.Query().Get("secure") == "true",
		Region: u.Query().Get("region")}
	if u.User != nil {
		c.AccessKey = u.User.Username()
		c.SecretKey, _ = u.User.Password()
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return Config{}, errors.New("s3 blob store: the URL names no bucket")
	}
	c.Bucket = bucket
	if prefix != "" {
		c.Prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	return c, nil
}

// Store is a bucket of evidence files.
type Store struct {
	c   *minio.Client
	cfg Config
}

var (
	_ fleet.BlobStore  = (*Store)(nil)
	_ fleet.BlobLister = (*Store)(nil)
)

// New connects and creates the bucket if it does not exist.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.PartSize == 0 {
		cfg.PartSize = 16 << 20
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("s3 blob store: create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return &Store{c: c, cfg: cfg}, nil
}

func (s *Store) key(sum string) string { return s.cfg.Prefix + "sha256/" + sum[:2] + "/" + sum }

func checkSum(sum string) error {
	_, err := fleet.CheckSHA256("sha256", sum)
	return err
}

func notFound(err error) bool {
	return minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).StatusCode == 404
}

// Put uploads size bytes from r under sum if they hash to it.
func (s *Store) Put(ctx context.Context, sum string, size int64, r io.Reader) error {
	if err := checkSum(sum); err != nil {
		return err
	}
	if n, err := s.Stat(ctx, sum); err == nil && n == size {
		return nil // stored already
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	incoming := s.cfg.Prefix + "incoming/" + hex.EncodeToString(rnd[:])
	h := sha256.New()
	info, err := s.c.PutObject(ctx, s.cfg.Bucket, incoming, io.TeeReader(io.LimitReader(r, size), h), size,
		minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: s.cfg.PartSize,
			UserMetadata: map[string]string{"sha256": sum}})
	if err != nil {
		return fmt.Errorf("s3 blob store: upload %s: %w", sum, err)
	}
	defer s.c.RemoveObject(context.WithoutCancel(ctx), s.cfg.Bucket, incoming, minio.RemoveObjectOptions{})
	got := hex.EncodeToString(h.Sum(nil))
	if info.Size != size {
		return &fleet.Error{Code: fleet.ECONFLICT, Field: "size_bytes",
			Message: fmt.Sprintf("%s: got %d bytes, declared %d", fleet.EHASHMISMATCH, info.Size, size)}
	}
	if got != sum {
		return fleet.ErrHashMismatch(sum, got)
	}
	// ComposeObject copies server-side, in parts when over 5 GiB.
	_, err = s.c.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: s.key(sum),
			UserMetadata: map[string]string{"sha256": sum}, ReplaceMetadata: true},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: incoming})
	if err != nil {
		return fmt.Errorf("s3 blob store: place %s: %w", sum, err)
	}
	return nil
}

type blob struct {
	*minio.Object
	size int64
}

func (b blob) Size() int64 { return b.size }

// Open opens the object of sum; reads and seeks become ranged GETs.
func (s *Store) Open(ctx context.Context, sum string) (fleet.Blob, error) {
	if err := checkSum(sum); err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.cfg.Bucket, s.key(sum), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3 blob store: get %s: %w", sum, err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		if notFound(err) {
			return nil, fleet.Errorf(fleet.ENOTFOUND, "evidence file %s not found", sum)
		}
		return nil, fmt.Errorf("s3 blob store: stat %s: %w", sum, err)
	}
	return blob{o, st.Size}, nil
}

// Stat returns the stored size of sum.
func (s *Store) Stat(ctx context.Context, sum string) (int64, error) {
	if err := checkSum(sum); err != nil {
		return 0, err
	}
	st, err := s.c.StatObject(ctx, s.cfg.Bucket, s.key(sum), minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return 0, fleet.Errorf(fleet.ENOTFOUND, "evidence file %s not found", sum)
		}
		return 0, fmt.Errorf("s3 blob store: stat %s: %w", sum, err)
	}
	return st.Size, nil
}

// Delete removes the object of sum.
func (s *Store) Delete(ctx context.Context, sum string) error {
	if err := checkSum(sum); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.cfg.Bucket, s.key(sum), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("s3 blob store: delete %s: %w", sum, err)
	}
	return nil
}

// ListBlobs calls fn for every stored object under PREFIX/sha256/; uploads
// in progress under PREFIX/incoming/ and foreign keys are skipped.
func (s *Store) ListBlobs(ctx context.Context, fn func(fleet.BlobInfo) error) error {
	// Cancelling stops the listing's paging; the iterator needs it when
	// the loop ends early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prefix := s.cfg.Prefix + "sha256/"
	for o := range s.c.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("s3 blob store: list: %w", o.Err)
		}
		rest := strings.TrimPrefix(o.Key, prefix)
		_, sum, ok := strings.Cut(rest, "/")
		// checkSum first: key slices sum.
		if !ok || checkSum(sum) != nil || strings.ToLower(sum) != sum || s.key(sum) != o.Key {
			continue
		}
		if err := fn(fleet.BlobInfo{SHA256: sum, SizeBytes: o.Size, ModTime: o.LastModified}); err != nil {
			return err
		}
	}
	return nil
}
