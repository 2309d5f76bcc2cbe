package gen

import (
	"math"
	"math/rand/v2"
	"time"
)

// Streams of randomness. Every repository and every base image draws from
// its own stream, named by a salt and its number, so that what one of them
// holds never depends on how many draws another made, nor on which worker
// built it first.
const (
	streamPlan     = 1
	streamFamily   = 2
	streamRepo     = 3
	streamUpstream = 4
)

// newRand returns the stream (salt, n) of seed.
func newRand(seed int64, salt, n uint64) *rand.Rand {
	return rand.New(rand.NewPCG(mix(uint64(seed)), mix(salt<<48^n)))
}

// mix is splitmix64's finalizer: nearby inputs give unrelated outputs.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// chance reports true with probability p.
func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// between returns an int in [lo, hi].
func between(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// logNormal returns a positive int whose logarithm is normal around
// log(median): most draws stay near median, a few are many times larger.
// The result is clamped to [lo, hi].
func logNormal(r *rand.Rand, median, sigma float64, lo, hi int) int {
	v := int(math.Round(median * math.Exp(sigma*r.NormFloat64())))
	return min(max(v, lo), hi)
}

// pick returns one element of xs.
func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// zipf draws indexes in [0, n) with Zipf-like popularity: index 0 is the
// most popular, and popularity falls off as a power of the rank.
type zipf struct{ z *rand.Zipf }

func newZipf(r *rand.Rand, s float64, n int) zipf {
	return zipf{rand.NewZipf(r, s, 1, uint64(n-1))}
}

func (z zipf) next() int { return int(z.z.Uint64()) }

// timeBetween returns a whole second in [a, b].
func timeBetween(r *rand.Rand, a, b time.Time) time.Time {
	span := int64(b.Sub(a) / time.Second)
	if span <= 0 {
		return a
	}
	return a.Add(time.Duration(r.Int64N(span+1)) * time.Second)
}

// randomHex returns n lowercase hex digits.
func randomHex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}
