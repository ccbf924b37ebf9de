"""The status rule the nodes share on /diagnostics (no DDS needed)."""

from diagnostic_msgs.msg import DiagnosticStatus

from c2f_sdf_ros.ros.diagnostics import latency_values, median_ms, milliseconds, status_level


def test_level_is_error_for_input_problems_then_warn_for_drops_then_ok():
    problems = ['no publisher on /color/image_raw', 'stamps never match']
    assert status_level(problems, {'empty_depth': 2}, 'fine') == (
        DiagnosticStatus.ERROR, 'no publisher on /color/image_raw; stamps never match')
    assert status_level([], {'size_mismatch': 1, 'empty_depth': 2}, 'fine') == (
        DiagnosticStatus.WARN, 'frames dropped: empty_depth 2, size_mismatch 1')
    assert status_level([], {}, '2.0 frames/s') == (DiagnosticStatus.OK, '2.0 frames/s')


def test_latency_values_in_milliseconds_and_nan_without_samples():
    assert latency_values([0.010, 0.030, 0.020]) == {'latency_median_ms': '20.0',
                                                     'latency_max_ms': '30.0'}
    assert latency_values([]) == {'latency_median_ms': 'nan', 'latency_max_ms': 'nan'}
    assert median_ms(iter([0.5, 1.5])) == '1000.0'
    assert milliseconds(None) == 'nan'
