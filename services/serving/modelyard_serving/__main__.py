from modelyard_serving.main import main

main()
