package feed

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
)

// Writer writes records of one type in one format; the synthetic-data
// generator and tests use it, and it is the reference for producers.
type Writer struct {
	rt    *RecordType
	csv   *csv.Writer
	buf   *bufio.Writer
	rev   map[string]rune
	line  []byte
	count int64
}

// NewWriter writes records of type rt to w. Fixed-width text that CP932
// lacks is written as the 外字 code g gives it (an error when g has none).
func NewWriter(w io.Writer, rt *RecordType, f Format, g *Gaiji) (*Writer, error) {
	wr := &Writer{rt: rt, buf: bufio.NewWriterSize(w, 1<<16)}
	switch f {
	case CSV:
		wr.csv = csv.NewWriter(wr.buf)
		head := make([]string, len(rt.Fields))
		for i, fl := range rt.Fields {
			head[i] = fl.Name
		}
		if err := wr.csv.Write(head); err != nil {
			return nil, err
		}
	case Fixed:
		wr.rev = map[string]rune{}
		if g != nil {
			wr.rev = g.Reverse()
		}
	default:
		return nil, fmt.Errorf("unknown format %q", f)
	}
	return wr, nil
}

// Write writes one record; values are in the layout's field order.
func (w *Writer) Write(values []string) error {
	if len(values) != len(w.rt.Fields) {
		return fmt.Errorf("%s: %d values for %d fields", w.rt.Name, len(values), len(w.rt.Fields))
	}
	w.count++
	if w.csv != nil {
		return w.csv.Write(values)
	}
	w.line = w.line[:0]
	for i, f := range w.rt.Fields {
		b, err := EncodeCP932(values[i], w.rev)
		if err != nil {
			return fmt.Errorf("%s record %d field %s: %v", w.rt.Name, w.count, f.Name, err)
		}
		if len(b) > f.Width {
			return fmt.Errorf("%s record %d field %s: %d bytes do not fit in %d", w.rt.Name, w.count, f.Name, len(b), f.Width)
		}
		w.line = append(w.line, b...)
		for n := len(b); n < f.Width; n++ {
			w.line = append(w.line, ' ')
		}
	}
	w.line = append(w.line, '\r', '\n')
	_, err := w.buf.Write(w.line)
	return err
}

// Count is the number of records written.
func (w *Writer) Count() int64 { return w.count }

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	if w.csv != nil {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return err
		}
	}
	return w.buf.Flush()
}
