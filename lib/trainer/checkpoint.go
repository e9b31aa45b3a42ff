package trainer

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// savedVariable is one variable in a checkpoint file.
type savedVariable struct {
	Path      string
	DType     string
	Dims      []int
	Trainable bool
	F32       []float32
	I64       []int64
	U64       []uint64
	I32       []int32
}

// snapshot copies every variable of store whose path keep accepts (all when keep is nil).
func snapshot(store *model.Store, keep func(path string) bool) ([]savedVariable, error) {
	var vars []savedVariable
	for v := range store.IterVariables() {
		if keep != nil && !keep(v.Path()) {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("checkpoint: variable %s: %w", v.Path(), err)
		}
		sv := savedVariable{Path: v.Path(), DType: t.DType().String(), Dims: t.Shape().Dimensions, Trainable: v.Trainable}
		switch t.DType() {
		case dtypes.Float32:
			sv.F32 = tensors.MustCopyFlatData[float32](t)
		case dtypes.Int64:
			sv.I64 = tensors.MustCopyFlatData[int64](t)
		case dtypes.Uint64:
			sv.U64 = tensors.MustCopyFlatData[uint64](t)
		case dtypes.Int32:
			sv.I32 = tensors.MustCopyFlatData[int32](t)
		default:
			return nil, fmt.Errorf("checkpoint: variable %s has unsupported dtype %s", v.Path(), t.DType())
		}
		vars = append(vars, sv)
	}
	return vars, nil
}

// restore sets the variables of store from vars, creating those that do not exist; from names the
// source in errors.
func restore(store *model.Store, vars []savedVariable, from string) error {
	for _, sv := range vars {
		var t *tensors.Tensor
		switch {
		case sv.F32 != nil:
			t = tensors.FromFlatDataAndDimensions(sv.F32, sv.Dims...)
		case sv.I64 != nil:
			t = tensors.FromFlatDataAndDimensions(sv.I64, sv.Dims...)
		case sv.U64 != nil:
			t = tensors.FromFlatDataAndDimensions(sv.U64, sv.Dims...)
		case sv.I32 != nil:
			t = tensors.FromFlatDataAndDimensions(sv.I32, sv.Dims...)
		default:
			return fmt.Errorf("checkpoint %s: variable %s has no data", from, sv.Path)
		}
		if v := store.GetVariable(sv.Path); v != nil {
			if err := v.SetValue(t); err != nil {
				return fmt.Errorf("checkpoint %s: %s: %w", from, sv.Path, err)
			}
			continue
		}
		v, err := store.CreateVariable(sv.Path, t)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %s: %w", from, sv.Path, err)
		}
		v.SetTrainable(sv.Trainable)
	}
	return nil
}

// Save writes every variable of store - weights, optimizer moments and counters, the random
// number generator's state - to path, so that Load followed by the same step gives the same
// result as if training had never stopped.
func Save(store *model.Store, path string) error {
	vars, err := snapshot(store, nil)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	err = gob.NewEncoder(f).Encode(vars)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	return nil
}

// Load reads a checkpoint written by Save into store, replacing the values of variables that
// exist and creating the others.
func Load(store *model.Store, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	var vars []savedVariable
	if err := gob.NewDecoder(f).Decode(&vars); err != nil {
		return fmt.Errorf("checkpoint: reading %s: %w", path, err)
	}
	return restore(store, vars, path)
}

// CopyWeights copies the variables of src whose path keep accepts (all when keep is nil) into
// dst, in memory: the way to start a method from a trained model, or to freeze a reference copy.
// The values are copied, so later updates of either store do not affect the other.
func CopyWeights(dst, src *model.Store, keep func(path string) bool) error {
	vars, err := snapshot(src, keep)
	if err != nil {
		return err
	}
	return restore(dst, vars, "copy")
}

// WeightsUnder returns a path filter for CopyWeights that accepts the model weights under scope
// (e.g. "generator") and rejects optimizer state (Adam moments and step counter, the learning
// rate), the global step and the random number generator's state: a method that starts from a
// trained model gets a fresh optimizer and keeps its own random stream.
func WeightsUnder(scope string) func(path string) bool {
	prefix := "/" + scope + "/"
	return func(path string) bool {
		if !strings.HasPrefix(path, prefix) {
			return false
		}
		for part := range strings.SplitSeq(path, "/") {
			if part == optimizer.Scope || strings.HasSuffix(part, "Optimizer") {
				return false
			}
		}
		return true
	}
}

// Marshal encodes every variable of store - weights, optimizer state, the random number
// generator's state - as bytes, for checkpoints that hold more than one store (Unmarshal reads
// them back).
func Marshal(store *model.Store) ([]byte, error) {
	vars, err := snapshot(store, nil)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(vars); err != nil {
		return nil, fmt.Errorf("checkpoint: encoding: %w", err)
	}
	return b.Bytes(), nil
}

// Unmarshal sets the variables of store from bytes written by Marshal, creating those that do
// not exist; from names the source in errors.
func Unmarshal(store *model.Store, data []byte, from string) error {
	var vars []savedVariable
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&vars); err != nil {
		return fmt.Errorf("checkpoint %s: decoding: %w", from, err)
	}
	return restore(store, vars, from)
}
