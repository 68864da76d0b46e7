// The double opt-in confirmation page: a GET changes nothing (mail scanners fetch links), so
// the page POSTs its one form as soon as it loads. Without JavaScript, the button does it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosubmit-confirm]");
  if (form) {
    form.submit();
  }
});
