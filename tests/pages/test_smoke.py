from tests.pages.conftest import Env


def test_teacher_page_renders(env: Env) -> None:
    response = env.teacher().get("/teacher/course/2")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
