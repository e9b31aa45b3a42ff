package experiment

import (
	"fmt"

	"github.com/execfeed/execfeed/lib/def"
	"github.com/execfeed/execfeed/lib/proxy"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/execfeed/execfeed/lib/seq2seq"
)

// defExecutor returns the executor DEF routine r trains through and the proxy description whose
// RandomInputs and K draw the random program inputs: the learned proxy px, its weights attached
// to the generator's store, or for an Exact routine the exact soft stack machine (def.Exact),
// with the proxy's default input distribution so both see the same kind of inputs.
func defExecutor(gen *seq2seq.Generator, px *proxy.Trained, r Routine, d rpn.Dialect) (def.Executor, *proxy.Proxy, error) {
	if r.Exact {
		ex, err := def.NewExact(gen.Tgt, d)
		if err != nil {
			return nil, nil, fmt.Errorf("routine %s: %w", r.Name, err)
		}
		return ex, &proxy.Proxy{Cfg: proxy.DefaultConfig(), Vocab: gen.Tgt}, nil
	}
	if px == nil {
		return nil, nil, fmt.Errorf("routine %s: no proxy executor was trained", r.Name)
	}
	if err := def.AttachProxy(gen, px); err != nil {
		return nil, nil, err
	}
	return px.Proxy, px.Proxy, nil
}
