package schemas

// Reject reasons: the one vocabulary that curation records and that the
// footage generator's ground truth predicts, so decisions can be scored
// against known answers. Stage names say where a decision was taken.
const (
	// Input stage: the file itself.
	ReasonEmptyFile = "empty_file" // zero bytes
	ReasonNotVideo  = "not_video"  // not a container ffprobe can read, or no video stream
	ReasonTruncated = "truncated"  // starts as a video but cannot be decoded to the end
	ReasonTooLarge  = "too_large"  // over the configured byte, duration or dimension limits
	ReasonTimeout   = "timeout"    // ffmpeg/ffprobe ran past its deadline

	// Filter stage, cheapest first.
	ReasonOrientation  = "orientation"   // portrait or square where landscape is required
	ReasonResolution   = "resolution"    // short side below the minimum
	ReasonFrameRate    = "frame_rate"    // source rate below the minimum
	ReasonTooShort     = "too_short"     // no cut-free segment long enough for one clip
	ReasonStatic       = "static"        // too little subject motion
	ReasonChaotic      = "chaotic"       // motion too large to be a usable clip
	ReasonCameraMotion = "camera_motion" // camera motion dominates subject motion
	ReasonBlur         = "blur"          // too little sharpness
	ReasonExposure     = "exposure"      // near-black or washed out
	ReasonOverlay      = "overlay"       // burned-in text, logos or boxes

	// Semantic stages.
	ReasonOffTopic  = "off_topic" // not a person doing an everyday action
	ReasonCaption   = "caption"   // caption empty, too short or long, a refusal, repetitive
	ReasonDuplicate = "duplicate" // same footage as a kept clip
)

// Stages, in pipeline order.
const (
	StageInput     = "input"
	StageProbe     = "probe"
	StageAnalyse   = "analyse"
	StageFilter    = "filter"
	StageNormalise = "normalise"
	StageCaption   = "caption"
	StageTopic     = "topic"
	StageDedup     = "dedup"
)

// RealAction categories (the paper's RealAction-5K shares) that topic
// filtering assigns and the generator labels.
const (
	CategoryCooking     = "cooking"
	CategoryInstrument  = "instrument"
	CategoryBicycle     = "bicycle"
	CategoryEating      = "eating"
	CategoryFitness     = "fitness"
	CategoryYoga        = "yoga"
	CategoryHug         = "hug"
	CategoryRunning     = "running"
	CategoryPet         = "pet"
	CategoryWalking     = "walking"
	CategoryDrinking    = "drinking"
	CategoryCleaning    = "household cleaning"
	CategoryParentChild = "parent-child"
	CategoryOthers      = "others"
)

// Reasons added by curation.
const (
	ReasonUnreadable = "unreadable"    // listed but could not be opened or copied
	ReasonEncode     = "encode_failed" // normalising a kept window failed
	// ReasonVLM: the vision-language model (captioner or judge) gave no
	// usable answer after its retries, or refused the request (4xx).
	ReasonVLM = "vlm_failed"
)
