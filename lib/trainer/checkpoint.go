package trainer

import (
	"encoding/gob"
	"fmt"
	"os"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
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

// Save writes every variable of store - weights, optimizer moments and counters, the random
// number generator's state - to path, so that Load followed by the same step gives the same
// result as if training had never stopped.
func Save(store *model.Store, path string) error {
	var vars []savedVariable
	for v := range store.IterVariables() {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("checkpoint: variable %s: %w", v.Path(), err)
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
			return fmt.Errorf("checkpoint: variable %s has unsupported dtype %s", v.Path(), t.DType())
		}
		vars = append(vars, sv)
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
			return fmt.Errorf("checkpoint %s: variable %s has no data", path, sv.Path)
		}
		if v := store.GetVariable(sv.Path); v != nil {
			if err := v.SetValue(t); err != nil {
				return fmt.Errorf("checkpoint %s: %s: %w", path, sv.Path, err)
			}
			continue
		}
		v, err := store.CreateVariable(sv.Path, t)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %s: %w", path, sv.Path, err)
		}
		v.SetTrainable(sv.Trainable)
	}
	return nil
}
