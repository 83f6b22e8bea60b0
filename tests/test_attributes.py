import pytest

from dpfe_tf.data import attributes as A


def test_paper_sets():
  assert A.resolve_attributes("G") == ("Male",)
  assert A.resolve_attributes("ga") == ("Male", "Young")
  assert A.resolve_attributes("GASLN") == ("Male", "Young", "Smiling", "Big_Lips", "Big_Nose")
  assert len(A.resolve_attributes("all")) == 40
  assert A.set_name(("Male", "Young")) == "GA"


def test_comma_list_is_canonicalised():
  assert A.resolve_attributes("smiling, Male") == ("Smiling", "Male")
  assert A.attribute_indices(["Male", "Young"]) == [20, 39]


@pytest.mark.parametrize("bad,match", [("Male,Beard", "unknown attribute 'Beard'"),
                                       ("Male,male", "listed twice"), (" , ", "empty")])
def test_bad_sets(bad, match):
  with pytest.raises(ValueError, match=match):
    A.resolve_attributes(bad)
