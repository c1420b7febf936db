package bundle

// Test hooks for the external tests of this package.

// SetAfterStage makes Build call f after each stage of its output.
func SetAfterStage(o *BuildOptions, f func(stage string)) { o.afterStage = f }

// Build stages.
const (
	StageWritten   = stageWritten
	StageLedger    = stageLedger
	StageCommitted = stageCommitted
)

// FolderSignSteps are the replacements AddSignature makes in a folder.
var FolderSignSteps = folderSignSteps
