"""Quality-of-service profiles from parameter values."""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY_CHOICES = ('reliable', 'best_effort')


def make_qos(reliability: str, depth: int) -> QoSProfile:
    """
    A keep-last, volatile profile with the given reliability ('reliable' or 'best_effort').

    A 'reliable' subscription does not match a 'best_effort' publisher (no data arrives);
    a 'best_effort' subscription matches both.
    """
    if reliability not in RELIABILITY_CHOICES:
        raise ValueError(f'reliability must be one of {RELIABILITY_CHOICES}; got {reliability!r}')
    if depth < 1:
        raise ValueError(f'QoS depth must be >= 1; got {depth}')
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=int(depth),
        reliability=(ReliabilityPolicy.RELIABLE if reliability == 'reliable'
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=DurabilityPolicy.VOLATILE)
