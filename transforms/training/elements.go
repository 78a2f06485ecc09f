package training

// Element types that flow between this package's DoFns only: not an
// on-disk or wire format, so they live here rather than in schemas.

// TrainExample is one pair decoded to the model's size: RGB24 frames
// (Frames x Height x Width x 3 bytes each), the first frame and caption.
type TrainExample struct {
	Key        string
	Shard      string
	Caption    string
	FirstFrame []byte
	Winner     []byte   // the real clip, all frames concatenated
	Losers     [][]byte // generated clips, same layout
}
