package render

import (
	"bytes"
	"crypto/sha256"
	"image"
	"image/draw"
	"image/png"
	"sync"
)

// sealCache holds each municipality's seal re-encoded as a plain 8-bit,
// non-interlaced PNG. gopdf v0.32.0 splits the alpha channel of a PNG
// assuming 8 bits per sample (a 16-bit seal would index past its rows and
// panic) and rejects interlaced PNGs; a municipality's own file may be
// either. Re-encoding costs more than a whole render, and the seal is
// configuration that does not change between requests, so the result is
// kept, keyed by the SHA-256 of the original bytes: the same input always
// gives the same output, and nothing of one request can reach another.
type sealCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte][]byte
}

// maxSeals bounds the cache; a deployment serves a few municipalities, and
// past the bound seals are simply re-encoded every time.
const maxSeals = 64

func (c *sealCache) get(orig []byte) ([]byte, error) {
	key := sha256.Sum256(orig)
	c.mu.Lock()
	out, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := normaliseSeal(orig)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte][]byte)
	}
	if len(c.m) < maxSeals {
		c.m[key] = out
	}
	return out, nil
}

func normaliseSeal(orig []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(orig))
	if err != nil {
		return nil, err
	}
	n := image.NewNRGBA(img.Bounds())
	draw.Draw(n, n.Bounds(), img, img.Bounds().Min, draw.Src)
	var out bytes.Buffer
	if err := png.Encode(&out, n); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
