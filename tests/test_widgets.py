import pytest

import rethinkkit as rk


def test_controls_start_at_parameter_defaults_and_read_back():
    ctl = rk.widgets.controls(
        model=rk.widgets.choice("resnet20", rk.models.names()),
        ratio=rk.widgets.slider(0.5, 0.0, 0.9, 0.05),
        seeds=rk.widgets.choices([0, 1], [0, 1, 2, 3, 4]),
        epochs=rk.widgets.slider(4, 1, 160, 1),
    )
    assert ctl.values == {"model": "resnet20", "ratio": 0.5, "seeds": [0, 1], "epochs": 4}
    assert type(ctl.widgets["epochs"]).__name__ == "IntSlider"
    ctl.widgets["ratio"].value = 0.25  # a person moves the slider
    assert ctl.value("ratio") == 0.25
    with pytest.raises(KeyError, match="controls are"):
        ctl.value("colour")


def test_live_output_follows_the_widgets():
    seen = []
    ctl = rk.widgets.controls(ratio=rk.widgets.slider(0.5, 0.0, 0.9, 0.05))
    box = ctl.live(lambda ratio, scale: seen.append(ratio * scale) or ratio, scale=2)
    ctl.widgets["ratio"].value = 0.25
    assert seen == [1.0, 0.5] and len(box.children) == 2


def test_bad_defaults_are_explained():
    with pytest.raises(ValueError, match="not one of"):
        rk.widgets.choice("resnet21", rk.models.names())
    with pytest.raises(ValueError, match="outside"):
        rk.widgets.slider(1.5, 0.0, 0.9, 0.05)
    with pytest.raises(ValueError, match="not among"):
        rk.widgets.choices([7], [0, 1])
