// Package fsxtest starts a real GCS API in-process (fake-gcs-server) for
// the tests of every package that reads or writes gs:// through fsx.
package fsxtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "realdpo/transforms/fsx/gcsfs" // the fake GCS is only useful with the gs:// backend registered

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// GCS starts a fake-gcs-server on a free local port with the given buckets,
// stopped when the test ends. With direct set, the storage client talks to
// it through STORAGE_EMULATOR_HOST; otherwise the caller points the
// emulator host elsewhere (a fault-injecting proxy in front of it).
func GCS(t testing.TB, direct bool, buckets ...string) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	if direct {
		t.Setenv("STORAGE_EMULATOR_HOST", Host(srv))
	}
	return srv
}

// Host is the server's host:port, for STORAGE_EMULATOR_HOST or a proxy.
func Host(srv *fakestorage.Server) string { return strings.TrimPrefix(srv.URL(), "http://") }

// Objects lists the object names under prefix in bucket, and fails the
// test for any temporary object a writer left (".NAME.tmp-...").
func Objects(t testing.TB, srv *fakestorage.Server, bucket, prefix string) map[string]bool {
	t.Helper()
	objs, _, err := srv.ListObjects(bucket, prefix, "", false)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, o := range objs {
		names[o.Name] = true
		if strings.Contains(o.Name, ".tmp-") {
			t.Errorf("temporary object left: %s", o.Name)
		}
	}
	return names
}

// Put stores data as bucket/name.
func Put(srv *fakestorage.Server, bucket, name string, data []byte) {
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: data})
}

// Upload stores every file of the local directory dir as
// bucket/prefix+NAME.
func Upload(t testing.TB, srv *fakestorage.Server, bucket, prefix, dir string) {
	t.Helper()
	for name, data := range ReadDir(t, dir) {
		Put(srv, bucket, prefix+name, data)
	}
}

// ReadDir maps the name of every file in the local directory dir to its
// bytes.
func ReadDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return files
}
