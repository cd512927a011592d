// Command mkimage builds the benchmark images of bench/imagescan/run.sh from
// the machine's own files and pushes them: REPO:1 (LAYERS layers of regular
// files from the given directories, about TOTAL bytes uncompressed, gzip) and
// REPO:2, which shares every layer of REPO:1 but the top one.
package main

import (
	"archive/tar"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vigil-sec/vigil/internal/imagescan/imagetest"
)

func main() {
	repo := flag.String("repo", "127.0.0.1:5000/bench/big", "repository to push to")
	total := flag.Int64("total", 1200<<20, "uncompressed bytes of file content")
	layers := flag.Int("layers", 6, "layers of the base image")
	work := flag.String("work", os.TempDir(), "directory for the layer tars")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"/usr/lib", "/usr/bin"}
	}

	var files []string
	var sizes []int64
	var sum int64
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil || sum >= *total {
				return nil
			}
			if de.Type().IsRegular() {
				if fi, err := de.Info(); err == nil {
					files, sizes = append(files, p), append(sizes, fi.Size())
					sum += fi.Size()
				}
			}
			return nil
		})
	}
	per := sum / int64(*layers)
	var ls []v1.Layer
	start := 0
	for i := 0; i < *layers; i++ {
		var acc int64
		end := start
		for end < len(files) && (acc < per || i == *layers-1) {
			acc += sizes[end]
			end++
		}
		tarPath := filepath.Join(*work, fmt.Sprintf("layer%d.tar", i))
		if err := writeTar(tarPath, files[start:end]); err != nil {
			log.Fatal(err)
		}
		l, err := tarball.LayerFromFile(tarPath, tarball.WithCompressedCaching)
		if err != nil {
			log.Fatal(err)
		}
		ls = append(ls, l)
		log.Printf("layer %d: %d files, %d MB", i, end-start, acc>>20)
		start = end
	}
	// Plant one sample in the top layer so the scan has a finding to report.
	top, err := imagetest.Layer(imagetest.Gzip, imagetest.File("opt/app/kworker.sh", imagetest.MinerLauncher()))
	if err != nil {
		log.Fatal(err)
	}
	img1, err := imagetest.FromLayers("linux/amd64", append(ls, top)...)
	if err != nil {
		log.Fatal(err)
	}
	top2, err := imagetest.Layer(imagetest.Gzip, imagetest.File("opt/app/VERSION", []byte("2\n")))
	if err != nil {
		log.Fatal(err)
	}
	img2, err := imagetest.FromLayers("linux/amd64", append(ls, top2)...)
	if err != nil {
		log.Fatal(err)
	}
	for tag, img := range map[string]v1.Image{"1": img1, "2": img2} {
		ref, err := name.ParseReference(*repo + ":" + tag)
		if err != nil {
			log.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			log.Fatal(err)
		}
		log.Printf("pushed %s", ref)
	}
	fmt.Println(sum)
}

func writeTar(out string, files []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range files {
		src, err := os.Open(p)
		if err != nil {
			continue
		}
		fi, err := src.Stat()
		if err != nil {
			src.Close()
			continue
		}
		hdr, _ := tar.FileInfoHeader(fi, "")
		hdr.Name = strings.TrimPrefix(p, "/")
		if err := tw.WriteHeader(hdr); err != nil {
			src.Close()
			return err
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
