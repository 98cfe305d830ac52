"""Golden scenes: hand-written latents render to the expected pixels, so a geometry bug cannot hide behind
correct statistics. Image coordinates: x to the right, y down; a colour is (R, G, B)."""

import math

import numpy as np

from synthvid.factory.generate.latents import make_latents, sample_latents
from synthvid.factory.generate.params import VideoParams, resolve
from synthvid.factory.generate.recipe import from_variant
from synthvid.factory.generate.render import Renderer, render_frame

RED, GREEN, BLUE, BLACK = (200, 0, 0), (0, 200, 0), (0, 0, 200), (0, 0, 0)


def params(**kw):
    return resolve(VideoParams(), {"size": 64, **kw})


def px(img, x, y):
    return tuple(int(v) for v in img[y, x])


def test_constant_velocity_positions_over_time():
    lat = make_latents(30, [{"x0": 10, "y0": 20, "radius": 4, "colour": RED, "speed": 2.0, "direction": 0.0},
                            {"x0": 40, "y0": 10, "radius": 4, "colour": GREEN, "speed": 1.0,
                             "direction": math.pi / 2}])
    p = params(speed_min=1.0, speed_max=2.0)
    r = Renderer(lat, p)
    for t in (0, 5, 12):
        img = r.frame(t)
        assert px(img, 10 + 2 * t, 20) == RED            # moves right by 2 px/frame
        assert px(img, 40, 10 + t) == GREEN              # direction pi/2 moves down the image
        assert px(img, 10 + 2 * t - 6, 20) == BLACK      # nothing left behind
    assert px(r.frame(12), 10, 20) == BLACK


def test_acceleration_displacement_is_v0_t_plus_a_t2():
    lat = make_latents(20, [{"x0": 5, "y0": 32, "radius": 3, "colour": RED, "speed": 1.0, "acceleration": 0.1}])
    r = Renderer(lat, params(acceleration_max=0.1))
    img = r.frame(10)                                    # 1*10 + 0.1*100 = 20 px
    assert px(img, 25, 32) == RED
    assert px(img, 25 - 4, 32) == BLACK and px(img, 25 + 4, 32) == BLACK
    lat_neg = make_latents(60, [{"x0": 30, "y0": 32, "radius": 2, "colour": RED, "speed": 1.0, "acceleration": -0.05}])
    r = Renderer(lat_neg, params(acceleration_max=0.05))
    assert px(r.frame(10), 35, 32) == RED                # 10 - 5 = 5 px forward
    assert px(r.frame(30), 15, 32) == RED                # 30 - 45 = -15: the object turned back


def test_z_order_is_creation_order():
    objs = [{"x0": 30, "y0": 30, "radius": 10, "colour": RED}, {"x0": 36, "y0": 30, "radius": 10, "colour": BLUE}]
    img = render_frame(make_latents(5, objs), params(speed_min=0, speed_max=0), 0)
    assert px(img, 33, 30) == BLUE                       # overlap: the later object is on top
    assert px(img, 22, 30) == RED and px(img, 44, 30) == BLUE
    img = render_frame(make_latents(5, objs[::-1]), params(speed_min=0, speed_max=0), 0)
    assert px(img, 33, 30) == RED


def test_object_leaving_the_frame_disappears():
    lat = make_latents(40, [{"x0": 50, "y0": 32, "radius": 5, "colour": GREEN, "speed": 3.0}])
    r = Renderer(lat, params())
    assert (r.frame(0) == GREEN).all(axis=2).sum() > 50
    assert (r.frame(4) == GREEN).all(axis=2).sum() > 0     # partly out
    assert not r.frame(10).any()                            # centre at 80, fully out: black frame


def test_rotation_direction_and_compounding():
    # A thin bar along x (rectangle angle 0.15 rad), rotation +pi/20 per frame: after 5 frames it is
    # turned by +pi/4, which in image coordinates (y down) points down-right: clockwise on screen.
    bar = {"x0": 32, "y0": 32, "radius": 20, "colour": RED, "shape": "rectangle", "shape_angles": [0, 0.15],
           "rotation": math.pi / 20}
    r = Renderer(make_latents(20, [bar]), params(affine=True, speed_min=0, speed_max=0))
    img0, img5, img10 = r.frame(0), r.frame(5), r.frame(10)
    d = 12 / math.sqrt(2)
    assert px(img0, 32 + 12, 32) == RED and px(img0, 32, 32 + 12) == BLACK
    assert px(img5, round(32 + d), round(32 + d)) == RED       # down-right
    assert px(img5, round(32 + d), round(32 - d)) == BLACK     # not up-right
    assert px(img10, 32, 32 + 12) == RED and px(img10, 32 + 12, 32) == BLACK   # vertical after pi/2


def test_scale_compounds_per_frame_and_circles_become_ellipses():
    disc = {"x0": 32, "y0": 32, "radius": 8, "colour": BLUE, "scale": [0.1, 0.0]}
    lat = make_latents(10, [disc])
    img = Renderer(lat, params(affine=True, speed_min=0, speed_max=0)).frame(5)   # x radius 8 * 1.1^5 = 12.9
    assert px(img, 32 + 12, 32) == BLUE and px(img, 32 - 12, 32) == BLUE
    assert px(img, 32 + 14, 32) == BLACK and px(img, 32, 32 + 10) == BLACK
    linear = Renderer(lat, params(affine=True, affine_mode="linear", speed_min=0, speed_max=0)).frame(5)
    assert px(linear, 32 + 11, 32) == BLUE and px(linear, 32 + 13, 32) == BLACK   # 8 * 1.5 = 12
    unchanged = Renderer(lat, params(affine=True, circle_affine="none", speed_min=0, speed_max=0)).frame(5)
    assert px(unchanged, 32 + 7, 32) == BLUE and px(unchanged, 32 + 10, 32) == BLACK


def test_reference_square_is_off_centre():
    sq = {"x0": 30, "y0": 30, "radius": 10, "colour": GREEN, "shape": "square"}
    lat = make_latents(3, [sq])
    centred = render_frame(lat, params(speed_min=0, speed_max=0), 0)
    assert px(centred, 30 - 6, 30 - 6) == GREEN and px(centred, 30 + 6, 30 + 6) == GREEN
    ref = render_frame(lat, params(speed_min=0, speed_max=0, square_geometry="reference"), 0)
    assert px(ref, 30 - 3, 30 - 3) == BLACK and px(ref, 30 + 12, 30 + 12) == GREEN


def test_reference_pivot_translates_under_rotation():
    sq = {"x0": 30, "y0": 30, "radius": 10, "colour": RED, "shape": "oriented_square", "shape_angles": [0.0],
          "rotation": math.pi / 4}
    lat = make_latents(6, [sq])
    p_ref = params(affine=True, affine_pivot="reference", speed_min=0, speed_max=0)
    p_paper = params(affine=True, speed_min=0, speed_max=0)
    c_paper = np.argwhere(render_frame(lat, p_paper, 4).any(axis=2)).mean(axis=0)
    c_ref0 = np.argwhere(render_frame(lat, p_ref, 0).any(axis=2)).mean(axis=0)
    c_ref4 = np.argwhere(render_frame(lat, p_ref, 4).any(axis=2)).mean(axis=0)
    assert np.allclose(c_paper, [30, 30], atol=1)          # paper geometry rotates about the centre
    assert np.linalg.norm(c_ref4 - c_ref0) > 5             # the reference pivot drags the shape along


def test_any_frame_from_latents_and_t_alone():
    p = from_variant("accelerating-shapes", {"size": 64}).params
    lat = sample_latents(p, 11, 3)
    sequential = [f.copy() for f in Renderer(lat, p).frames()]
    for t in (0, 7, lat.frames - 1):
        assert np.array_equal(render_frame(lat, p, t), sequential[t])
    assert not np.array_equal(sequential[0], sequential[-1])


def test_static_video_every_frame_equal_and_background_colour():
    p = from_variant("static-circles", {"size": 64, "background": [10, 20, 30]}).params
    lat = sample_latents(p, 0, 0)
    frames = Renderer(lat, p).frames()
    assert all(np.array_equal(frames[0], f) for f in frames)
    empty = render_frame(make_latents(2, []), p, 1)
    assert (empty == [10, 20, 30]).all()


def test_culling_modes_agree_where_the_reference_draws():
    p = from_variant("accelerating-shapes", {"size": 64}).params
    lat = sample_latents(p, 0, 1)
    a = render_frame(lat, p, 10)
    b = render_frame(lat, resolve(p, {"culling": "centre"}), 10)
    # centre culling only ever drops objects that bbox culling keeps; most of the frame agrees
    assert (a == b).all(axis=2).mean() > 0.9
