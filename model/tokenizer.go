package model

import (
	"hash/fnv"
	"strings"
	"unicode"
)

// Tokenize maps a caption to word ids with a deterministic hashing
// tokenizer: lower-case, split on anything that is not a letter or digit,
// FNV-1a 32-bit hash of each word, id = 1 + hash mod (vocab-1). Id 0 is
// reserved for "no caption" (the classifier-free-guidance null token), which
// is what an empty caption yields. At most maxWords words are kept. Hash
// collisions are accepted: the table is learned, and a collision only makes
// two rare words share a vector.
func Tokenize(caption string, vocab, maxWords int) []int {
	words := strings.FieldsFunc(strings.ToLower(caption), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) > maxWords {
		words = words[:maxWords]
	}
	if len(words) == 0 || vocab < 2 {
		return []int{0}
	}
	ids := make([]int, len(words))
	for i, w := range words {
		h := fnv.New32a()
		h.Write([]byte(w))
		ids[i] = 1 + int(h.Sum32()%uint32(vocab-1))
	}
	return ids
}

// captionRow writes the caption's pooled bag of words into row (length
// vocab): each word's count divided by the word count, so that the product
// with the embedding table is the mean word embedding.
func captionRow(row []float32, caption string, vocab, maxWords int) {
	for i := range row {
		row[i] = 0
	}
	ids := Tokenize(caption, vocab, maxWords)
	w := 1 / float32(len(ids))
	for _, id := range ids {
		row[id] += w
	}
}
